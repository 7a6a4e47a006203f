"""The I/O of health checks: services over HTTP, the dependencies over their own protocols."""
