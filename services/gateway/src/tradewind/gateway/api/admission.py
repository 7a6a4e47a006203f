"""Admission of an authenticated request: its rate limit and its Idempotency-Key, in one round trip.

One Lua script (``_ADMIT``) spends a unit of the key's budget and, when the request carries an
Idempotency-Key, reserves the key or finds the stored answer, atomically: Redis runs a script
alone, so with any number of gateway processes a budget never grants more than its quota in a
window, and of concurrent requests with one key exactly one runs. A request without an
Idempotency-Key costs one script call; the key check before it is usually answered from memory
(``key_cache``).

``AdmissionMiddleware`` (pure ASGI) adds the RateLimit header fields to every answer of an
admitted request and stores the first answer of an idempotent one before it leaves: a retry that
follows the answer finds it stored. Answers of 5xx are not stored (the reservation is released):
nothing was done, or the outcome is unknown, and a retry should run again. Nor are answers marked
``Cache-Control: no-store`` (a new API key): a secret is never written to Redis.

Redis unreachable: order writes and webhook changes fail closed (503 with Retry-After, nothing
done), since a gateway that cannot count cannot promise the budget. Reads fail open (served
without RateLimit fields, logged once per outage): they change nothing, and the services behind
them have their own timeouts and breakers.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, FastAPI, Request, Response
from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tradewind.common.problems import Problem
from tradewind.gateway.adapters.script_batches import Script, ScriptBatches
from tradewind.gateway.api.admission_doc import describe, document
from tradewind.gateway.api.idempotency import (
    HEADER,
    IDEMPOTENT_METHODS,
    IdempotentRequest,
    StoredResponse,
    fingerprint,
    in_flight,
    parse_key,
    record_key,
    reused,
)
from tradewind.gateway.domain.rate_limits import Budget, BudgetName, Usage
from tradewind.gateway.settings import GatewaySettings

if TYPE_CHECKING:
    # Only for types: bootstrap imports this module to build the runtime's Admission.
    from tradewind.gateway.bootstrap import GatewayRuntime
    from tradewind.gateway.domain.auth_model import Principal

log = logging.getLogger(__name__)

# KEYS[1]: the budget's counter; KEYS[2], when given: the idempotency record.
# ARGV: quota, window (ms), then fingerprint, reservation token, reservation lifetime (ms).
# Returns {granted, remaining, reset (ms)[, idempotency state[, status, headers, body]]}.
# A refused request spends nothing, so the counter never exceeds the quota.
_ADMIT = Script("""
local quota = tonumber(ARGV[1])
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used >= quota then
  return {0, 0, redis.call('PTTL', KEYS[1])}
end
used = redis.call('INCR', KEYS[1])
local reset = redis.call('PTTL', KEYS[1])
if reset < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  reset = tonumber(ARGV[2])
end
if #KEYS < 2 then
  return {1, quota - used, reset}
end
local record = redis.call('HMGET', KEYS[2], 'fingerprint', 'status', 'headers', 'body')
if not record[1] then
  redis.call('HSET', KEYS[2], 'fingerprint', ARGV[3], 'token', ARGV[4])
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
  return {1, quota - used, reset, 'reserved'}
end
if record[1] ~= ARGV[3] then
  return {1, quota - used, reset, 'reused'}
end
if not record[2] then
  return {1, quota - used, reset, 'in-flight'}
end
return {1, quota - used, reset, 'stored', record[2], record[3], record[4]}
""")

# Only the reservation's holder stores an answer: if its reservation expired and a retry took
# the key, the retry's answer is the one kept.
_COMPLETE = """
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'headers', ARGV[3], 'body', ARGV[4])
redis.call('HDEL', KEYS[1], 'token')
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
"""

_RELEASE = """
if redis.call('HGET', KEYS[1], 'token') == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

__all__ = [
    "Admission",
    "AdmissionMiddleware",
    "IdempotencyOf",
    "admit",
    "admit_scope",
    "describe",
    "idempotency_of",
    "idempotent_request",
    "install",
    "reserved_idempotency",
]

SLOT = "tradewind.admission"
FAIL_OPEN: frozenset[BudgetName] = frozenset({"reads"})


@dataclass(frozen=True)
class Reservation:
    record_key: str
    token: str


@dataclass(frozen=True)
class Outcome:
    usage: Usage
    idempotency: str | None = None  # reserved, reused, in-flight, stored
    stored: StoredResponse | None = None
    reservation: Reservation | None = None


class Replay(Exception):
    """Answer with the stored first answer (raised from the key check, answered by a handler)."""

    def __init__(self, stored: StoredResponse) -> None:
        super().__init__("replay")
        self.stored = stored


class AdmissionSlot:
    """Put in the ASGI scope by the middleware, filled by the key check of the route."""

    __slots__ = ("idempotent", "reservation", "usage")

    def __init__(self) -> None:
        self.usage: Usage | None = None
        self.reservation: Reservation | None = None
        self.idempotent: IdempotentRequest | None = None  # when reserved for this request


class Admission:
    def __init__(
        self,
        redis: Redis,
        namespace: str,
        budgets: dict[BudgetName, Budget],
        *,
        idempotency_ttl_s: int,
        idempotency_lock_s: float,
        batches: ScriptBatches | None = None,
    ) -> None:
        """``batches``, when given, sends the admission scripts of concurrent requests together."""
        self.namespace = namespace
        self.batches = batches
        self.budgets = budgets
        self.idempotency_ttl_ms = idempotency_ttl_s * 1000
        self.idempotency_lock_ms = max(1, int(idempotency_lock_s * 1000))
        self._admit = redis.register_script(_ADMIT.source)
        self._complete = redis.register_script(_COMPLETE)
        self._release = redis.register_script(_RELEASE)
        self._counting = True

    def budget_for(self, principal: Principal, name: BudgetName) -> Budget:
        for own in principal.rate_budgets:
            if own.name == name:
                return own
        return self.budgets[name]

    def _counter_key(self, principal: Principal, budget: Budget) -> str:
        # The window length is part of the name: a key given another window starts afresh.
        return (
            f"{self.namespace}:ratelimit:{{{principal.account_id}}}:"
            f"{principal.key_id}:{budget.name}:{budget.window_s}"
        )

    async def admit(
        self, principal: Principal, name: BudgetName, request: IdempotentRequest | None
    ) -> Outcome | None:
        """The outcome; None when Redis cannot count a budget that fails open."""
        try:
            outcome = await self._run(principal, name, request)
        except RedisError as exc:
            if name not in FAIL_OPEN:
                raise  # the app answers 503 with Retry-After
            if self._counting:
                self._counting = False
                log.warning(
                    "cannot count rate limits; reads are served unlimited until Redis answers",
                    extra={"error": repr(exc)},
                )
            return None
        if not self._counting:
            self._counting = True
            log.info("counting rate limits again")
        return outcome

    async def _run(
        self, principal: Principal, name: BudgetName, request: IdempotentRequest | None
    ) -> Outcome:
        budget = self.budget_for(principal, name)
        keys = [self._counter_key(principal, budget)]
        args: list[Any] = [budget.quota, budget.window_s * 1000]
        token = None
        if request is not None:
            token = secrets.token_hex(16)
            keys.append(record_key(self.namespace, principal.account_id, request.key))
            args += [request.fingerprint, token, self.idempotency_lock_ms]
        if self.batches is not None:
            reply = await self.batches.call(_ADMIT, keys, args)
        else:
            reply = await self._admit(keys=keys, args=args)
        granted, remaining, reset_ms = int(reply[0]), int(reply[1]), int(reply[2])
        if reset_ms < 0:  # no counter: a quota of 0 refuses before one exists
            reset_ms = budget.window_s * 1000
        usage = Usage(budget, bool(granted), max(0, remaining), reset_ms)
        if len(reply) < 4:
            return Outcome(usage)
        state = _text(reply[3])
        if state == "stored":
            return Outcome(usage, state, StoredResponse.decode(reply[4], reply[5], reply[6]))
        if state == "reserved" and token is not None:
            return Outcome(usage, state, reservation=Reservation(keys[1], token))
        return Outcome(usage, state)

    async def complete(self, reservation: Reservation, response: StoredResponse) -> bool:
        done = await self._complete(
            keys=[reservation.record_key],
            args=[
                reservation.token,
                response.status,
                response.encoded_headers(),
                response.body,
                self.idempotency_ttl_ms,
            ],
        )
        return bool(done)

    async def release(self, reservation: Reservation) -> None:
        await self._release(keys=[reservation.record_key], args=[reservation.token])


async def admit(request: Request, principal: Principal, name: BudgetName) -> None:
    """Spend a unit of ``name`` for ``principal``; handle the request's Idempotency-Key.

    Raises the 429, 409 and 422 problems, or ``Replay`` with the stored answer.
    """
    idempotent = None
    if request.method in IDEMPOTENT_METHODS:
        raw = request.headers.get(HEADER)
        if raw is not None:
            idempotent = idempotent_request(request.scope, raw, principal, await request.body())
    await admit_scope(request.scope, principal, name, idempotent)


def idempotent_request(
    scope: Scope, raw_key: str, principal: Principal, body: bytes
) -> IdempotentRequest:
    """The request's Idempotency-Key (from its header's value) and fingerprint; a 400 problem if
    the key is malformed."""
    key = parse_key(raw_key)
    target = scope.get("raw_path") or scope["path"].encode()
    if scope.get("query_string"):
        target += b"?" + scope["query_string"]
    return IdempotentRequest(key, fingerprint(scope["method"], target, principal.key_id, body))


async def admit_scope(
    scope: Scope, principal: Principal, name: BudgetName, idempotent: IdempotentRequest | None
) -> None:
    """``admit`` for a request known by its ASGI scope (and its ``idempotent`` key, if any)."""
    slot: AdmissionSlot | None = scope.get(SLOT)
    if slot is None:
        raise RuntimeError("AdmissionMiddleware is not installed")
    outcome = await _admission_of(scope).admit(principal, name, idempotent)
    if outcome is None:
        return
    usage = outcome.usage
    slot.usage = usage
    if not usage.granted:
        raise Problem(
            429,
            "Too Many Requests",
            f"This API key has used its {usage.budget.quota} `{usage.budget.name}` requests "
            f"of the current {usage.budget.window_s} s window; retry after the indicated delay.",
            kind="rate-limited",
            headers={"Retry-After": str(usage.reset_s)},
        )
    if outcome.idempotency == "reserved":
        slot.reservation = outcome.reservation
        slot.idempotent = idempotent
    elif outcome.idempotency == "stored" and outcome.stored is not None:
        raise Replay(outcome.stored)
    elif outcome.idempotency == "in-flight":
        raise in_flight()
    elif outcome.idempotency == "reused":
        raise reused()


def reserved_idempotency(scope: Scope) -> tuple[str, str] | None:
    """(Idempotency-Key, fingerprint) of the request, once admission has reserved its key."""
    slot: AdmissionSlot | None = scope.get(SLOT)
    if slot is None or slot.idempotent is None:
        return None
    return slot.idempotent.key, slot.idempotent.fingerprint


async def idempotency_of(request: Request) -> tuple[str, str] | None:
    """``reserved_idempotency`` as a route's dependency."""
    return reserved_idempotency(request.scope)


IdempotencyOf = Annotated[tuple[str, str] | None, Depends(idempotency_of)]


class AdmissionMiddleware:
    """RateLimit fields on every admitted answer; the first answer of an idempotent request kept."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        slot = AdmissionSlot()
        scope[SLOT] = slot
        held: list[Message] = []

        async def send_admitted(message: Message) -> None:
            if message["type"] == "http.response.start":
                if slot.reservation is not None:
                    held.append(message)  # until the answer is stored
                    return
                if slot.usage is not None:
                    message["headers"] = [*message.get("headers", ()), *slot.usage.headers()]
                await send(message)
                return
            if held and message["type"] == "http.response.body":
                held.append(message)
                if message.get("more_body", False):
                    return
                await self._settle(scope, slot, held)
                start = held[0]
                if slot.usage is not None:
                    start["headers"] = [*start.get("headers", ()), *slot.usage.headers()]
                for kept in held:
                    await send(kept)
                held.clear()
                return
            await send(message)

        try:
            await self.app(scope, receive, send_admitted)
        except BaseException:
            reservation = slot.reservation
            if reservation is not None:
                slot.reservation = None
                with contextlib.suppress(Exception):
                    await _admission_of(scope).release(reservation)
            raise

    async def _settle(self, scope: Scope, slot: AdmissionSlot, held: list[Message]) -> None:
        reservation = slot.reservation
        assert reservation is not None
        slot.reservation = None
        status = int(held[0]["status"])
        admission = _admission_of(scope)
        try:
            if status >= 500 or _no_store(held[0]):
                await admission.release(reservation)
                return
            body = b"".join(message.get("body", b"") for message in held[1:])
            stored = StoredResponse.of(status, list(held[0].get("headers", ())), body)
            if not await admission.complete(reservation, stored):
                log.warning("idempotency reservation expired before the answer was stored")
        except RedisError as exc:
            # The request is done; failing its answer now would invite the duplicate the key
            # is there to prevent. A retry gets 409 until the reservation expires.
            log.warning("could not store the idempotent answer", extra={"error": repr(exc)})


def _no_store(start: Message) -> bool:
    return any(
        name.lower() == b"cache-control" and b"no-store" in value.lower()
        for name, value in start.get("headers", ())
    )


def _admission_of(scope: Scope) -> Admission:
    runtime: GatewayRuntime = scope["app"].state.runtime
    return runtime.admission


async def _replay(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Replay)
    stored = exc.stored
    response = Response(stored.body, status_code=stored.status)
    length = [(n, v) for n, v in response.raw_headers if n == b"content-length"]
    response.raw_headers = [*length, *stored.headers, (b"idempotent-replayed", b"true")]
    return response


def install(app: FastAPI, settings: GatewaySettings) -> None:
    """Admission for the gateway app: the middleware (outermost), the replay handler, the
    OpenAPI document's admission headers and problems."""
    app.add_exception_handler(Replay, _replay)
    app.add_middleware(AdmissionMiddleware)
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(settings, build)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
