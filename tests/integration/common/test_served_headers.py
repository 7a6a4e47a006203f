"""What uvicorn, as every service runs it (``serve.server_config``), adds to each answer: the
Date the HTTP standard asks of an origin server, and no Server header naming the software."""

from __future__ import annotations

import asyncio

import httpx
import uvicorn
from fastapi import FastAPI

from support.polling import eventually
from support.services import free_port
from tradewind.common.serve import server_config


async def test_answers_carry_a_date_and_do_not_name_the_server() -> None:
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"status": "up"}

    port = free_port()
    server = uvicorn.Server(server_config(app, host="127.0.0.1", port=port))
    serving = asyncio.create_task(server.serve())
    try:

        async def started() -> bool:
            return server.started

        await eventually(started, timeout=10, message="server not started")
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{port}/ping")
        assert response.status_code == 200
        assert "date" in response.headers
        assert "server" not in response.headers
    finally:
        server.should_exit = True
        await serving
