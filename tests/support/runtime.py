"""The runtime a service's bootstrap yielded to a running app, for tests that work beside it
(publish on its broker, listen on its topology) rather than through its HTTP API."""

from __future__ import annotations

from typing import TypeVar

from fastapi import FastAPI

from tradewind.common.app import RUNTIME_STATE

Runtime = TypeVar("Runtime")


def runtime_in(app: FastAPI, kind: type[Runtime]) -> Runtime:
    """``app``'s runtime as ``kind``, checked as ``runtime_of`` checks it for the routes: a test
    that reads another service's runtime fails here, not on a missing attribute further on."""
    runtime = getattr(app.state, RUNTIME_STATE)
    if not isinstance(runtime, kind):
        raise TypeError(f"the app's runtime is a {type(runtime).__name__}, not a {kind}")
    return runtime
