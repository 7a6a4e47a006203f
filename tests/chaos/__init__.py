"""Chaos drills: the whole system under a steady load, one fault at a time, invariants after each.

`make chaos` runs every drill (`python -m chaos`); tests/e2e/test_chaos_short.py runs a few of
them in `make test`. See docs/architecture.md, "Chaos drills".
"""
