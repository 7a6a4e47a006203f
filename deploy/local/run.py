"""`make run`: databases, migrations and every service as a local process, kept running (a
service that exits is restarted with backoff: supervisor.py); Ctrl-C stops them all, in order.

Service URLs come from the same environment variables the services read (localhost defaults).
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from tradewind.common.logging import configure_logging
from tradewind.common.migrations import upgrade_database
from tradewind.gateway.domain.auth_model import ALL_SCOPES

sys.path.insert(0, str(Path(__file__).resolve().parent))
from supervisor import Supervisor

ROOT = Path(__file__).resolve().parents[2]
log = logging.getLogger("tradewind.run")


@dataclass(frozen=True)
class Service:
    name: str
    module: str
    port_env: str
    default_port: int
    database_env: str | None = None
    default_database: str | None = None

    @property
    def port(self) -> int:
        return int(os.environ.get(self.port_env, self.default_port))

    @property
    def database_url(self) -> str | None:
        if self.database_env is None:
            return None
        return os.environ.get(self.database_env, self.default_database)

    @property
    def service_dir(self) -> Path:
        return ROOT / "services" / self.name

    @property
    def installed(self) -> bool:
        return importlib.util.find_spec(self.module) is not None


def _pg(name: str) -> str:
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/tradewind_{name}"


# Start order: owners of data first, the gateway last.
SERVICES = [
    Service(
        "orders",
        "tradewind.orders",
        "TRADEWIND_ORDERS_PORT",
        8001,
        "TRADEWIND_ORDERS_DATABASE_URL",
        _pg("orders"),
    ),
    Service(
        "market-data",
        "tradewind.market_data",
        "TRADEWIND_MARKET_DATA_PORT",
        8002,
        "TRADEWIND_MARKET_DATA_DATABASE_URL",
        _pg("market_data"),
    ),
    Service(
        "webhooks",
        "tradewind.webhooks",
        "TRADEWIND_WEBHOOKS_PORT",
        8003,
        "TRADEWIND_WEBHOOKS_DATABASE_URL",
        _pg("webhooks"),
    ),
    Service("health", "tradewind.health", "TRADEWIND_HEALTH_PORT", 8004),
    Service(
        "gateway",
        "tradewind.gateway",
        "TRADEWIND_GATEWAY_PORT",
        8000,
        "TRADEWIND_GATEWAY_DATABASE_URL",
        _pg("gateway"),
    ),
]

# Local development delivers webhooks to receivers on this machine, and exchanges API keys for
# access tokens signed with a key of this run (one gateway: nobody else must verify them).
LOCAL_DEFAULTS = {
    "TRADEWIND_WEBHOOKS_ALLOW_SUBNETS": '["127.0.0.0/8"]',
    "TRADEWIND_WEBHOOKS_HTTPS_ONLY": "false",
    "TRADEWIND_LOG_JSON": "false",
    "TRADEWIND_GATEWAY_TOKEN_SIGNING_KEY": secrets.token_urlsafe(32),
    # Encrypts webhook secrets at rest. Fixed so the local database stays readable from one run
    # to the next; a key for local development only, never for real secrets.
    "TRADEWIND_WEBHOOKS_SECRET_KEYS": "dyePYuxTV4EqJ9Ue0BNMPO7D7a38TrORysTgcJMNciI=",
    # Run-time flags, all off; edit a copy and point this at it to switch one (docs/operations.md).
    "TRADEWIND_FLAGS_FILE": str(ROOT / "deploy" / "flags" / "flags.json"),
}


async def ensure_database(url: str) -> None:
    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres")
    connection = await asyncpg.connect(admin.render_as_string(hide_password=False))
    try:
        exists = await connection.fetchval(
            "SELECT 1 FROM pg_database WHERE datname = $1", parsed.database
        )
        if not exists:
            await connection.execute(f'CREATE DATABASE "{parsed.database}"')
            log.info("created database %s", parsed.database)
    finally:
        await connection.close()


def wait_ready(service: Service, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{service.port}/health/ready"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{service.name} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise SystemExit(f"{service.name} was not ready within {timeout}s")


def create_key(*scopes: str) -> str:
    """A new key for account `demo` (default scopes unless given), through the keys CLI."""
    command = [sys.executable, "-m", "tradewind.gateway.keys", "create", "--account", "demo"]
    for scope in scopes:
        command += ["--scope", scope]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return next(
        line.split(": ", 1)[1] for line in output.splitlines() if line.startswith("api_key")
    )


def provision_key() -> str:
    demo_key = os.environ.get("TRADEWIND_DEMO_API_KEY")
    if demo_key:
        return demo_key  # the gateway provisions it for account `demo` at start
    return create_key()


def banner(services: list[Service], api_key: str, admin_key: str) -> str:
    gateway = f"http://127.0.0.1:{SERVICES[-1].port}"
    lines = ["", "Tradewind is running:"]
    lines += [f"  {s.name:<12} http://127.0.0.1:{s.port}" for s in services]
    lines += [
        "",
        f"API docs:  {gateway}/docs",
        f"API key for account demo:  {api_key}",
        "",
        "Place an order:",
        f"  curl -s -X POST {gateway}/api/v1/orders \\",
        f"    -H 'Authorization: Bearer {api_key}' -H 'Content-Type: application/json' \\",
        '    -d \'{"symbol":"AAPL","side":"buy","type":"limit","qty":"10","limit_price":"150"}\'',
        "",
        f"Admin key for account demo (manages its keys at /api/v1/keys):  {admin_key}",
        "Exchange a key for a 15-minute access token:",
        f"  curl -s -u ':{api_key}' -d grant_type=client_credentials {gateway}/api/v1/auth/token",
        "",
        "Press Ctrl-C to stop everything.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    configure_logging("run", json_lines=False)
    for key, value in LOCAL_DEFAULTS.items():
        os.environ.setdefault(key, value)
    # The services' internal routes require a shared token; every child inherits this one.
    os.environ.setdefault("TRADEWIND_INTERNAL_TOKEN", secrets.token_urlsafe(32))
    services = [s for s in SERVICES if s.installed]
    for service in services:
        if service.database_url:
            asyncio.run(ensure_database(service.database_url))
            upgrade_database(service.service_dir, service.database_url)
            log.info("migrated %s", service.name)

    supervisor = Supervisor()

    def stop_all() -> None:
        # Ctrl-C reaches us more than once (uv forwards it too): stopping must not be interrupted.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        supervisor.stop_all()

    # Both signals stop everything in order. SIGINT explicitly too: a shell starting us in the
    # background hands it down ignored, and Python then never raises KeyboardInterrupt.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        for service in services:
            process = supervisor.start(service.name, partial(start_service, service))
            wait_ready(service, process)
            log.info("%s ready on port %d", service.name, service.port)
        api_key = provision_key()
        admin_key = create_key(*sorted(ALL_SCOPES))
        sys.stdout.write(banner(services, api_key, admin_key))
        sys.stdout.flush()
        # A service that exits is restarted with backoff; the others keep running.
        while True:
            supervisor.tick()
            time.sleep(0.5)
    except KeyboardInterrupt:
        log.info("stopping")
        return 0
    finally:
        stop_all()


def start_service(service: Service) -> subprocess.Popen[bytes]:
    # Own process group: Ctrl-C reaches us once, and we stop children in order.
    return subprocess.Popen([sys.executable, "-m", service.module], start_new_session=True)


if __name__ == "__main__":
    raise SystemExit(main())
