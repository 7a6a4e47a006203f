"""Real-time stream: per-connection sessions and the process-wide fan-out hub."""
