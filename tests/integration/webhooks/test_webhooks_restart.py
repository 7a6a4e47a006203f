"""The service as a process, killed with SIGKILL in the middle of retry schedules and restarted."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from integration.webhooks.harness import Receiver, always, ok, order_accepted
from support.infra import Infra
from support.internal import INTERNAL_HEADERS
from support.polling import eventually
from tradewind.common.broker import Broker, Topology


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class ServiceProcess:
    def __init__(self, env: dict[str, str], log_path: Path, port: int) -> None:
        self.env = env
        self.log_path = log_path
        self.base_url = f"http://127.0.0.1:{port}"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tradewind.webhooks", env=self.env, stdout=log, stderr=log
            )

        async def ready() -> bool:
            assert self.process is not None
            assert self.process.returncode is None, self.logs()
            with contextlib.suppress(httpx.HTTPError):
                async with httpx.AsyncClient() as client:
                    response = await client.get(f"{self.base_url}/health/ready")
                    return response.status_code == 200
            return False

        await eventually(ready, timeout=60, interval=0.1, message="service not ready")

    async def kill(self) -> None:
        assert self.process is not None
        self.process.kill()  # SIGKILL: no shutdown code runs
        await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 15)
            except TimeoutError:
                await self.kill()

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]


@contextlib.asynccontextmanager
async def publisher(infra: Infra, namespace: str) -> AsyncIterator[Broker]:
    broker = Broker(infra.amqp_url, Topology(namespace), service="test-orders")
    await broker.connect()
    try:
        yield broker
    finally:
        await broker.close()


async def test_sigkill_mid_schedule_then_restart_loses_and_repeats_nothing(
    infra: Infra, database_url: str, namespace: str, receiver: Receiver, tmp_path: Path
) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "TRADEWIND_NAMESPACE": namespace,
        "TRADEWIND_AMQP_URL": infra.amqp_url,
        "TRADEWIND_LOG_LEVEL": "INFO",
        "TRADEWIND_WEBHOOKS_PORT": str(port),
        "TRADEWIND_WEBHOOKS_DATABASE_URL": database_url,
        "TRADEWIND_WEBHOOKS_ALLOW_SUBNETS": "127.0.0.0/8",
        "TRADEWIND_WEBHOOKS_HTTPS_ONLY": "false",
        "TRADEWIND_WEBHOOKS_RETRY_SCHEDULE": "300ms,600ms,1200ms,2400ms,4800ms,10s",
        "TRADEWIND_WEBHOOKS_REQUEST_TIMEOUT_S": "1",
        "TRADEWIND_WEBHOOKS_DELIVERY_LEASE": "2s",
        "TRADEWIND_WEBHOOKS_DISPATCH_POLL_INTERVAL_S": "0.2",
        "TRADEWIND_WEBHOOKS_BREAKER_FAILURE_THRESHOLD": "1000",
    }
    service = ServiceProcess(env, tmp_path / "webhooks.log", port)
    receiver.on("hook", always(500))
    try:
        await service.start()
        async with httpx.AsyncClient(base_url=service.base_url, headers=INTERNAL_HEADERS) as api:
            created = await api.post(
                "/internal/v1/accounts/acc-1/webhooks/endpoints",
                json={"url": receiver.url("hook")},
            )
            assert created.status_code == 201, created.text

        async with publisher(infra, namespace) as broker:
            for _ in range(10):
                await broker.publish_event(order_accepted("acc-1"))

            async def each_tried_twice() -> bool:
                tries = Counter(r.webhook_id for r in receiver.at("hook"))
                return len(tries) == 10 and min(tries.values()) >= 2

            await eventually(each_tried_twice, timeout=15, message="retries not under way")
            await service.kill()
            tried_before_kill = Counter(r.webhook_id for r in receiver.at("hook"))
            for _ in range(5):  # published while the service is down
                await broker.publish_event(order_accepted("acc-1"))

        receiver.on("hook", ok)
        await service.start()

        async def all_delivered() -> bool:
            return len({r.webhook_id for r in receiver.successes("hook")}) == 15

        await eventually(all_delivered, timeout=20, message="not every message delivered")
        await service.stop()
    finally:
        await service.stop()

    successes = Counter(r.webhook_id for r in receiver.successes("hook"))
    assert set(successes.values()) == {1}, service.logs()
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            deliveries = (
                await connection.execute(
                    text("SELECT message_id, status, attempts FROM deliveries")
                )
            ).all()
            attempts = (
                await connection.execute(
                    text("SELECT message_id, attempt_number FROM attempts ORDER BY id")
                )
            ).all()
    finally:
        await engine.dispose()
    assert len(deliveries) == 15
    assert {d.status for d in deliveries} == {"succeeded"}
    recorded: dict[str, list[int]] = {}
    for attempt in attempts:
        recorded.setdefault(attempt.message_id, []).append(attempt.attempt_number)
    seen = Counter(r.webhook_id for r in receiver.at("hook"))
    for delivery in deliveries:
        numbers = recorded[delivery.message_id]
        # The schedule went on where it stopped: numbering continues, nothing restarted at 1.
        assert numbers == list(range(1, delivery.attempts + 1))
        # An attempt cut off by the kill may have reached the receiver without being recorded.
        assert 0 <= seen[delivery.message_id] - len(numbers) <= 1
    # The ten interrupted schedules continued after the restart, and only succeeded then.
    for message_id, tries in tried_before_kill.items():
        assert recorded[message_id][-1] >= tries
