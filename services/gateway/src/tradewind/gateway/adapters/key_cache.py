"""Verified API keys, kept in the gateway process for a few seconds, and what keeps them true.

Every request needs its key checked, and asking Redis each time cost a round trip and about 8% of
the gateway's CPU per POST /api/v1/orders (bench/gateway_bench.py). A verified key is therefore
remembered (by key id) for ``KEY_TTL_S``, but only while this process hears of every change to
keys: ``ApiKeyStore`` publishes the id of each key it creates, changes or revokes on
``<ns>:apikey-changes``, in the same Redis script that writes the key's new state to the shared
cache, and ``follow_key_changes`` forgets that key on receipt. Redis writes the message to
subscribers before it answers the revoke, so a request sent after the revoke returned finds the
key gone. While the subscription is not confirmed (starting, connection lost) nothing is served
from memory, and every confirmed (re)subscription starts from an empty cache: a change made while
nobody listened is unknown.
``KEY_TTL_S`` bounds what remains (a key changed in PostgreSQL by hand, a connection that died
silently).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from redis.asyncio import ConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from tradewind.gateway.adapters.key_states import KeyState, key_changes_channel
from tradewind.gateway.adapters.redis_faults import injected_redis_failure

log = logging.getLogger(__name__)

KEY_TTL_S = 5.0
MAX_KEYS = 10_000
RECONNECT_S = 1.0
_POLL_S = 1.0


class VerifiedKeys:
    """Usable key states by key id, served only while every key change is heard.

    A lookup that started before a change must not store what it read: ``generation`` is taken
    before reading Redis and ``remember`` stores nothing if a change arrived in between.
    """

    def __init__(
        self,
        *,
        ttl_s: float = KEY_TTL_S,
        max_keys: int = MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl_s = ttl_s
        self._max_keys = max_keys
        self._clock = clock
        self._keys: dict[str, tuple[KeyState, float]] = {}
        self._generation = 0
        self._listening = False

    @property
    def generation(self) -> int:
        return self._generation

    def get(self, key_id: str) -> KeyState | None:
        entry = self._keys.get(key_id)
        if entry is None:
            return None
        state, expires_at = entry
        if self._clock() >= expires_at:
            del self._keys[key_id]
            return None
        return state

    def remember(self, key_id: str, state: KeyState, generation: int) -> None:
        if not self._listening or generation != self._generation:
            return
        if len(self._keys) >= self._max_keys:
            del self._keys[next(iter(self._keys))]  # the oldest; dicts keep insertion order
        self._keys[key_id] = (state, self._clock() + self._ttl_s)

    def forget(self, key_id: str) -> None:
        self._generation += 1
        self._keys.pop(key_id, None)

    def start_listening(self) -> None:
        """Every change from now on will be heard; what happened before is unknown."""
        self._generation += 1
        self._keys.clear()
        self._listening = True

    def stop_listening(self) -> None:
        self._generation += 1
        self._keys.clear()
        self._listening = False


def listener_name(namespace: str) -> str:
    """The Redis client name of every gateway's key-change subscription (CLIENT LIST shows it)."""
    return f"{namespace}-gateway-key-changes"


async def follow_key_changes(redis_url: str, namespace: str, keys: VerifiedKeys) -> None:
    """Forget each key ``ApiKeyStore`` reports changed; run until cancelled."""
    channel = key_changes_channel(namespace)
    # A plain connection, not redis-py's PubSub: on a read error PubSub reconnects and
    # resubscribes before it raises, and requests served from memory meanwhile could use a key
    # revoked while the connection was down. Here the error reaches us first.
    pool = ConnectionPool.from_url(
        redis_url,
        retry=Retry(NoBackoff(), 0),
        socket_connect_timeout=2,
        socket_timeout=2,
        client_name=listener_name(namespace),
    )
    in_outage = False
    while True:
        connection: _Connection = pool.connection_class(**pool.connection_kwargs)
        try:
            await connection.connect()
            await connection.send_command("SUBSCRIBE", channel)
            while True:
                failure = injected_redis_failure()  # the fault flag: as if Redis went away
                if failure is not None:
                    raise failure
                # RESP3 delivers messages as push replies; push_request returns them to us.
                reply = await connection.read_response(timeout=_POLL_S, push_request=True)
                if not isinstance(reply, list) or len(reply) < 3:
                    continue  # nothing within the poll interval
                kind, data = _text(reply[0]), reply[2]
                if kind == "subscribe":
                    keys.start_listening()
                    if in_outage:
                        log.info("hearing API key changes again")
                        in_outage = False
                elif kind == "message":
                    keys.forget(_text(data))
        except (RedisError, OSError) as exc:
            if not in_outage:
                log.warning(
                    "not hearing API key changes; checking every key in Redis until reconnected",
                    extra={"error": repr(exc)},
                )
                in_outage = True
        finally:
            keys.stop_listening()
            await connection.disconnect()
        await asyncio.sleep(RECONNECT_S)


class _Connection(Protocol):
    """What we use of a redis-py connection (whose ``connect`` is not annotated)."""

    async def connect(self) -> None: ...

    async def send_command(self, *args: Any, **kwargs: Any) -> None: ...

    async def read_response(
        self,
        disable_decoding: bool = False,
        timeout: float | None = None,
        *,
        disconnect_on_error: bool = True,
        push_request: bool | None = False,
    ) -> Any: ...

    async def disconnect(self, nowait: bool = False) -> None: ...


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
