"""The poller: every interval, every service and dependency checked at once."""
