"""Aggregated health of every Tradewind service and dependency, for operators."""
