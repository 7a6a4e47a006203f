"""The status report over HTTP: JSON, and the operators' page."""
