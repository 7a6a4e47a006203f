"""Orders benchmarks' baseline: a bare FastAPI endpoint publishing one message with a confirm.

It does the least an order-entry endpoint must do (parse JSON, publish durably into a quorum queue,
wait for the broker's confirm) and nothing Tradewind adds (auth, validation, Redis, the orders
service). The message goes to ``BASELINE_EXCHANGE`` with routing key ``baseline.place``, where a
quorum queue (``BASELINE_QUEUE``) is bound, as the orders service's command queue is.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aio_pika
from fastapi import FastAPI, Request

ROUTING_KEY = "baseline.place"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    connection = await aio_pika.connect_robust(os.environ["BASELINE_AMQP_URL"])
    channel = await connection.channel(publisher_confirms=True)
    exchange = await channel.get_exchange(os.environ["BASELINE_EXCHANGE"])
    queue = await channel.declare_queue(
        os.environ.get("BASELINE_QUEUE", "baseline.place"),
        durable=True,
        arguments={"x-queue-type": "quorum"},
    )
    await queue.bind(exchange, ROUTING_KEY)
    app.state.exchange = exchange
    yield
    await connection.close()


app = FastAPI(lifespan=lifespan)


@app.get("/health/ready")
async def ready() -> dict[str, str]:
    return {"status": "up"}


@app.post("/orders", status_code=202)
async def place(request: Request) -> dict[str, Any]:
    body = await request.body()
    order_id = str(uuid.uuid4())
    await app.state.exchange.publish(
        aio_pika.Message(body, message_id=order_id, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
        routing_key=ROUTING_KEY,
    )
    return {"id": order_id}
