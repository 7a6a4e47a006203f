"""Per-run isolation on the shared local services (or testcontainers when none is reachable).

Each test run gets its own RabbitMQ vhost, its own PostgreSQL databases and its own Redis key
namespace, and removes them when it ends, so concurrent runs never collide and leave nothing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg
import httpx
import redis.asyncio as aioredis

from support.cli import run_cli

log = logging.getLogger(__name__)

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
DEFAULT_AMQP = "amqp://guest:guest@127.0.0.1:5672/"


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), 1
        ):
            return True
    except OSError:
        return False


def _docker_available() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0


@dataclass
class Infra:
    postgres_admin_url: str
    redis_url: str
    amqp_base_url: str
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    vhost: str = "/"
    management_url: str | None = None
    databases: list[str] = field(default_factory=list)
    rabbitmq_cli_options: tuple[str, ...] = ()
    """Put before every rabbitmqctl/rabbitmq-diagnostics command: the node and cookie of a
    broker that is not the machine's default node (a private one)."""

    @property
    def namespace(self) -> str:
        return f"twtest{self.run_id}"

    @property
    def amqp_url(self) -> str:
        parts = urlsplit(self.amqp_base_url)
        return urlunsplit(parts._replace(path="/" + quote(self.vhost, safe="")))

    def database_name(self, service: str) -> str:
        return f"tw_{self.run_id}_{service.replace('-', '_')}"

    def database_url(self, service: str) -> str:
        """SQLAlchemy URL (asyncpg driver) of this run's database for ``service``."""
        parts = urlsplit(self.postgres_admin_url)
        return urlunsplit(
            parts._replace(scheme="postgresql+asyncpg", path="/" + self.database_name(service))
        )

    # --- PostgreSQL ---

    async def create_database(self, service: str) -> str:
        name = self.database_name(service)
        conn = await asyncpg.connect(self.postgres_admin_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        self.databases.append(name)
        return self.database_url(service)

    async def drop_databases(self) -> None:
        conn = await asyncpg.connect(self.postgres_admin_url)
        try:
            for name in self.databases:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    # --- Redis ---

    async def delete_redis_keys(self) -> None:
        client = aioredis.from_url(self.redis_url)
        try:
            # A prefix match: derived namespaces (the e2e services' own) are removed too.
            async for key in client.scan_iter(match=f"{self.namespace}*", count=1000):
                await client.delete(key)
        finally:
            await client.aclose()

    # --- RabbitMQ ---

    def _rabbitmqctl(self, *args: str) -> bool:
        if shutil.which("rabbitmqctl") is None or urlsplit(self.amqp_base_url).hostname not in {
            "127.0.0.1",
            "localhost",
        }:
            return False
        try:
            return run_cli(["rabbitmqctl", *self.rabbitmq_cli_options, "-q", *args]).returncode == 0
        except subprocess.TimeoutExpired:
            log.warning("rabbitmqctl %s did not answer within 60 s", args[0])
            return False

    def _management(self, method: str, path: str) -> bool:
        if self.management_url is None:
            return False
        parts = urlsplit(self.amqp_base_url)
        try:
            response = httpx.request(
                method,
                f"{self.management_url}/api{path}",
                auth=(parts.username or "guest", parts.password or "guest"),
                timeout=10,
            )
        except httpx.HTTPError:
            return False
        return response.is_success

    def create_vhost(self) -> None:
        name = f"tw-test-{self.run_id}"
        encoded = quote(name, safe="")
        user = urlsplit(self.amqp_base_url).username or "guest"
        if self._rabbitmqctl("add_vhost", name):
            self._rabbitmqctl("set_permissions", "-p", name, user, ".*", ".*", ".*")
            self.vhost = name
        elif self._management("PUT", f"/vhosts/{encoded}"):
            httpx.put(
                f"{self.management_url}/api/permissions/{encoded}/{user}",
                json={"configure": ".*", "write": ".*", "read": ".*"},
                auth=(user, urlsplit(self.amqp_base_url).password or "guest"),
                timeout=10,
            )
            self.vhost = name
        else:
            log.warning("cannot create a vhost; isolating by namespace %s only", self.namespace)

    def health_problem(self) -> str | None:
        """Why the shared services cannot serve tests right now, or None when they can.

        A service that went away, or a RabbitMQ resource alarm (low disk or memory blocks every
        publisher), would otherwise make each later test wait for its timeout.
        """
        for name, url, port in (
            ("PostgreSQL", self.postgres_admin_url, 5432),
            ("Redis", self.redis_url, 6379),
            ("RabbitMQ", self.amqp_base_url, 5672),
        ):
            if not _reachable(url, port):
                parts = urlsplit(url)
                return f"{name} at {parts.hostname}:{parts.port or port} is unreachable"
        return self._rabbitmq_alarms()

    def _rabbitmq_alarms(self) -> str | None:
        if shutil.which("rabbitmq-diagnostics") is None or urlsplit(
            self.amqp_base_url
        ).hostname not in {"127.0.0.1", "localhost"}:
            return None
        try:
            checked = run_cli(
                ["rabbitmq-diagnostics", *self.rabbitmq_cli_options, "-q", "check_alarms"]
            )
        except subprocess.TimeoutExpired:
            return "rabbitmq-diagnostics check_alarms did not answer within 60 s"
        if checked.returncode != 0:
            said = (checked.stdout + checked.stderr).strip()
            return f"RabbitMQ reports a resource alarm (publishers are blocked): {said}"
        return None

    def delete_vhost(self) -> None:
        if self.vhost == "/":
            return
        if not self._rabbitmqctl("delete_vhost", self.vhost):
            self._management("DELETE", f"/vhosts/{quote(self.vhost, safe='')}")

    def close_broker_connections(self) -> None:
        """Close every client connection of this run's vhost from the broker side."""
        if self._rabbitmqctl("close_all_connections", "--vhost", self.vhost, "tradewind test"):
            return
        if self.management_url is None:
            raise RuntimeError("closing connections needs rabbitmqctl or the management API")
        parts = urlsplit(self.amqp_base_url)
        auth = (parts.username or "guest", parts.password or "guest")
        connections = httpx.get(
            f"{self.management_url}/api/vhosts/{quote(self.vhost, safe='')}/connections",
            auth=auth,
            timeout=10,
        ).json()
        for connection in connections:
            httpx.delete(
                f"{self.management_url}/api/connections/{quote(connection['name'], safe='')}",
                auth=auth,
                timeout=10,
            )


@dataclass(frozen=True)
class ServerOverrides:
    """Servers a run uses instead of the shared ones (private servers it started itself)."""

    postgres_url: str | None = None
    redis_url: str | None = None
    amqp_url: str | None = None
    rabbitmq_cli_options: tuple[str, ...] = ()


@contextlib.contextmanager
def provision(overrides: ServerOverrides | None = None) -> Iterator[Infra]:
    """Use the URLs from ``overrides``, else from the environment (local defaults); start
    containers only if needed."""
    overrides = overrides or ServerOverrides()
    postgres = overrides.postgres_url or os.environ.get(
        "TRADEWIND_TEST_POSTGRES_URL", DEFAULT_POSTGRES
    )
    redis_url = overrides.redis_url or os.environ.get("TRADEWIND_TEST_REDIS_URL", DEFAULT_REDIS)
    amqp = overrides.amqp_url or os.environ.get("TRADEWIND_TEST_AMQP_URL", DEFAULT_AMQP)
    management = os.environ.get("TRADEWIND_TEST_RABBITMQ_MANAGEMENT_URL")
    with contextlib.ExitStack() as stack:
        missing = [
            name
            for name, url, port in (
                ("postgres", postgres, 5432),
                ("redis", redis_url, 6379),
                ("rabbitmq", amqp, 5672),
            )
            if not _reachable(url, port)
        ]
        if missing:
            if not _docker_available():
                raise RuntimeError(
                    f"not reachable: {', '.join(missing)}; start them (see README) or set "
                    "TRADEWIND_TEST_*_URL, or make Docker available for testcontainers"
                )
            postgres, redis_url, amqp, management = _start_containers(
                stack, missing, postgres, redis_url, amqp, management
            )
        infra = Infra(
            postgres_admin_url=postgres,
            redis_url=redis_url,
            amqp_base_url=amqp,
            management_url=management,
            rabbitmq_cli_options=overrides.rabbitmq_cli_options,
        )
        if (problem := infra.health_problem()) is not None:
            raise RuntimeError(f"the test services cannot serve this run: {problem}")
        infra.create_vhost()
        try:
            yield infra
        finally:
            infra.delete_vhost()


def _start_containers(
    stack: contextlib.ExitStack,
    missing: list[str],
    postgres: str,
    redis_url: str,
    amqp: str,
    management: str | None,
) -> tuple[str, str, str, str | None]:
    if "postgres" in missing:
        from testcontainers.postgres import PostgresContainer

        pg = stack.enter_context(PostgresContainer("postgres:16-alpine", driver=None))
        postgres = pg.get_connection_url()
    if "redis" in missing:
        from testcontainers.redis import RedisContainer

        rc = stack.enter_context(RedisContainer("redis:7-alpine"))
        redis_url = f"redis://{rc.get_container_host_ip()}:{rc.get_exposed_port(6379)}/0"
    if "rabbitmq" in missing:
        from testcontainers.rabbitmq import RabbitMqContainer

        mq = stack.enter_context(RabbitMqContainer("rabbitmq:3.13-management-alpine"))
        host = mq.get_container_host_ip()
        amqp = f"amqp://guest:guest@{host}:{mq.get_exposed_port(5672)}/"
        management = f"http://{host}:{mq.get_exposed_port(15672)}"
    return postgres, redis_url, amqp, management
