"""`make run` keeps the system running: a service killed with SIGKILL is started again by the
supervisor, the system recovers by itself (an order placed afterwards fills), and Ctrl-C then
stops every service."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import httpx
import pytest

from support.infra import Infra
from support.internal import SERVICE_CREDENTIALS
from support.namespace_cleanup import delete_namespace_of
from support.polling import eventually
from support.services import free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
DEMO_KEY = "tw_demo_supervised_run_key_0123456789abcdef"
SERVICES = ("orders", "market_data", "webhooks", "health", "gateway")


def children_of(parent: int) -> dict[int, str]:
    """pid → command line of every live process whose parent is ``parent``."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == parent and fields[0] != "Z":
            found[int(entry.name)] = command
    return found


def service_pid(parent: int, module: str) -> int | None:
    return next(
        (pid for pid, command in children_of(parent).items() if f"-m {module}" in command), None
    )


async def run_environment(infra: Infra) -> tuple[dict[str, str], dict[str, int]]:
    ports = {name: free_port() for name in SERVICES}
    databases = {
        name: await infra.create_database(f"run_{name}")
        for name in ("orders", "market_data", "webhooks", "gateway")
    }
    env = {
        **os.environ,
        **SERVICE_CREDENTIALS,
        "TRADEWIND_NAMESPACE": f"{infra.namespace}-run",
        "TRADEWIND_AMQP_URL": infra.amqp_url,
        "TRADEWIND_REDIS_URL": infra.redis_url,
        "TRADEWIND_DEMO_API_KEY": DEMO_KEY,
        "TRADEWIND_LOG_LEVEL": "WARNING",
        **{f"TRADEWIND_{name.upper()}_PORT": str(port) for name, port in ports.items()},
        **{f"TRADEWIND_{name.upper()}_DATABASE_URL": url for name, url in databases.items()},
        **{
            f"TRADEWIND_GATEWAY_{name.upper()}_URL": f"http://127.0.0.1:{ports[name]}"
            for name in ("orders", "market_data", "webhooks")
        },
    }
    return env, ports


async def test_a_killed_service_is_restarted_and_the_system_recovers(infra: Infra) -> None:
    env, ports = await run_environment(infra)
    run = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "deploy" / "local" / "run.py"),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert run.stdout is not None
    try:
        async with asyncio.timeout(120):
            while b"Tradewind is running" not in (line := await run.stdout.readline()):
                assert line, "make run stopped before the system was up"

        killed = service_pid(run.pid, "tradewind.orders")
        assert killed is not None
        os.kill(killed, signal.SIGKILL)

        async with httpx.AsyncClient(timeout=5) as http:

            async def orders_back() -> int | None:
                pid = service_pid(run.pid, "tradewind.orders")
                if pid in (None, killed):
                    return None
                try:
                    ready = await http.get(f"http://127.0.0.1:{ports['orders']}/health/ready")
                except httpx.TransportError:
                    return None
                return pid if ready.status_code == 200 else None

            await eventually(orders_back, timeout=60, message="orders was not restarted")

            gateway = f"http://127.0.0.1:{ports['gateway']}/api/v1/orders"
            auth = {"Authorization": f"Bearer {DEMO_KEY}"}
            order = {"symbol": "AAPL", "side": "buy", "type": "market", "qty": "1"}
            placed = await http.post(gateway, json=order, headers=auth)
            assert placed.status_code == 202, placed.text
            order_id = placed.json()["id"]

            async def filled() -> bool:
                current = await http.get(f"{gateway}/{order_id}", headers=auth)
                return current.status_code == 200 and current.json()["status"] == "filled"

            # The simulator quotes every second: the order fills on arrival or on the next one.
            await eventually(filled, timeout=30, message="the order placed after the restart")
    finally:
        if run.returncode is None:
            run.send_signal(signal.SIGINT)
        async with asyncio.timeout(60):
            code = await run.wait()
        await delete_namespace_of(env)
    assert code == 0
    assert children_of(run.pid) == {}
