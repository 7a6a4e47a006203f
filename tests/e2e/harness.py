"""What end-to-end tests share: the running system's handles, an outside consumer, auth."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from support.infra import Infra
from support.services import ServiceProcess, free_port
from support.system import DEFAULT_SYMBOLS as DEFAULT_SYMBOLS
from support.system import TOKEN_SIGNING_KEY as TOKEN_SIGNING_KEY
from tradewind.common.envelope import CloudEvent
from tradewind.gateway.domain.auth_model import DEFAULT_SCOPES, IssuedKey
from tradewind.gateway.handlers.api_keys import ApiKeyStore, open_key_store

RETRY_DELAYS_MS = [100, 200, 400]
MAX_ATTEMPTS = 4


@dataclass
class System:
    infra: Infra
    env: dict[str, str]
    orders: ServiceProcess
    gateway: ServiceProcess
    market_data: ServiceProcess
    webhooks: ServiceProcess

    @property
    def namespace(self) -> str:
        """The running services' own namespace, apart from the in-process integration tests'."""
        return self.env["TRADEWIND_NAMESPACE"]

    @asynccontextmanager
    async def key_store(self) -> AsyncIterator[ApiKeyStore]:
        """The operator's key store (what the CLI uses) on the gateways' database and Redis."""
        async with open_key_store(
            self.env["TRADEWIND_GATEWAY_DATABASE_URL"], self.infra.redis_url, self.namespace
        ) as store:
            yield store

    async def create_key(self, account: str, scopes: frozenset[str] = DEFAULT_SCOPES) -> IssuedKey:
        async with self.key_store() as store:
            return await store.create(account, scopes)

    def gateway_env(self, **overrides: str) -> dict[str, str]:
        return {**self.env, **overrides}

    def another_gateway(self, name: str, **overrides: str) -> ServiceProcess:
        """A further gateway process of this system, on a port of its own, with ``overrides``
        on its environment; started, not yet ready."""
        port = free_port()
        env = self.gateway_env(TRADEWIND_GATEWAY_PORT=str(port), **overrides)
        return ServiceProcess(name, "tradewind.gateway", port, env).start()


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@dataclass
class Spy:
    """An outside consumer: an exclusive queue bound to an exchange, recording what arrives."""

    messages: list[tuple[CloudEvent, dict[str, Any]]] = field(default_factory=list)

    def events(self, event_type: str | None = None, subject: str | None = None) -> list[CloudEvent]:
        return [
            event
            for event, _ in self.messages
            if (event_type is None or event.type == event_type)
            and (subject is None or event.subject == subject)
        ]

    def headers_of(self, event_id: str) -> dict[str, Any]:
        return next(headers for event, headers in self.messages if event.id == event_id)
