"""An HTTP request served in process by the app itself, as the stream's order entry does."""

from __future__ import annotations

import json

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tradewind.common.problems import install_problem_handlers
from tradewind.gateway.api.loopback import NoAnswer, call, http_scope

HANDSHAKE = {
    "type": "websocket",
    "scheme": "ws",
    "client": ("10.0.0.7", 51000),
    "server": ("127.0.0.1", 8000),
    "headers": [],
}


def app() -> FastAPI:
    served = FastAPI()
    install_problem_handlers(served)

    @served.post("/echo/{name}", status_code=202)
    async def echo(name: str, request: Request) -> JSONResponse:
        return JSONResponse(
            {"name": name, "body": json.loads(await request.body()), "client": request.client},
            status_code=202,
            headers={"Location": f"/echo/{name}"},
        )

    @served.delete("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    return served


async def test_the_answer_is_what_the_route_and_its_middleware_send() -> None:
    scope = http_scope(HANDSHAKE, "POST", "/echo/x", [(b"content-type", b"application/json")])
    answer = await call(app(), scope, b'{"qty":"1"}')
    assert answer.status == 202
    assert (b"location", b"/echo/x") in answer.headers
    assert json.loads(answer.body) == {
        "name": "x",
        "body": {"qty": "1"},
        "client": ["10.0.0.7", 51000],
    }


async def test_an_error_is_answered_by_the_apps_own_handler() -> None:
    answer = await call(app(), http_scope(HANDSHAKE, "DELETE", "/boom", []), b"")
    assert answer.status == 500
    assert json.loads(answer.body)["title"] == "Internal Server Error"


async def test_an_app_that_fails_without_answering_is_no_answer() -> None:
    async def broken(scope: object, receive: object, send: object) -> None:
        raise RuntimeError("before any answer")

    with pytest.raises(NoAnswer):
        await call(broken, http_scope(HANDSHAKE, "POST", "/x", []), b"")
