"""Tradewind's AsyncAPI 3.0 document (docs/asyncapi.yaml), generated from the code.

    uv run python tools/asyncapi/asyncapi_document.py            # print it
    uv run python tools/asyncapi/asyncapi_document.py --write    # write docs/asyncapi.yaml
    uv run python tools/asyncapi/asyncapi_document.py --check    # fail if the file is stale

What comes from the code: every payload schema (the pydantic contracts, serialization mode: the
JSON a publisher writes), the envelope (``CloudEvent``), exchange and queue names (``Topology``
with the default namespace), routing keys (``Contract.binding_pattern``, ``quote_routing_key``),
the orders service's queues and bindings (its ``*_queue`` functions), the gateway's stream
bindings, the webhooks service's delivery rule and the AMQP headers the broker client sets.
What no code declares is who publishes a contract and how: ``PUBLICATIONS`` below says it, and
tests/unit/docs/test_asyncapi.py checks that every contract in the code is there (or in
``NOT_PUBLISHED``), so a new contract cannot be left out of the document.
"""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic.json_schema import models_json_schema

from tradewind.common.broker.memory import topic_matches
from tradewind.common.broker.topology import (
    ATTEMPT_HEADER,
    RETRY_TIER_HEADER,
    UNAVAILABLE_HEADER,
    QueueSpec,
    Topology,
)
from tradewind.common.contracts import (
    BlockTrading,
    CancelOrder,
    CancelRejected,
    CancelRequested,
    Contract,
    InstrumentListed,
    JobSucceeded,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderPartiallyFilled,
    OrderRejected,
    OrderReplaced,
    PlaceOrder,
    Quote,
    ReplaceOrder,
    ReplaceRejected,
    ReplaceRequested,
    RequestStatement,
    TradingBlocked,
    TradingUnblocked,
    UnblockTrading,
    quote_routing_key,
)
from tradewind.common.envelope import CONTENT_TYPE, CloudEvent, event_source
from tradewind.common.settings import SharedSettings
from tradewind.gateway.adapters.stream_bindings import QUOTES, TRADE_UPDATES
from tradewind.orders.handlers.subscriptions import (
    command_queue,
    instrument_queue,
    jobs_queue,
    quote_queue,
)
from tradewind.webhooks.bootstrap import events_queue
from tradewind.webhooks.domain.delivery_rules import is_deliverable
from tradewind.webhooks.domain.events import (
    WebhookEndpointDisabled,
    WebhookMessageFailed,
    WebhookTest,
)

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "docs" / "asyncapi.yaml"
REGENERATE = "uv run python tools/asyncapi/asyncapi_document.py --write"

ASYNCAPI_VERSION = "3.0.0"
AMQP_BINDING_VERSION = "0.3.0"  # the latest AMQP bindings the official parser knows
SERVER = "rabbitmq"
# Names as a deployment with the default TRADEWIND_NAMESPACE has them; the document says so.
NAMESPACE: str = SharedSettings.model_fields["namespace"].default
TOPOLOGY = Topology(NAMESPACE)
DEFAULT_AMQP_URL = urlsplit(SharedSettings.model_fields["amqp_url"].default)

Exchange = Literal["commands", "events"]
EXCHANGES: tuple[Exchange, ...] = ("commands", "events")
SCHEMAS = "#/components/schemas/"


# --- who publishes what: the one part no code declares ---


@dataclass(frozen=True)
class Publication:
    """How one service publishes one contract."""

    contract: type[Contract]
    service: str
    exchange: Exchange
    subject: str  # what the CloudEvents subject holds
    account_scoped: bool  # the envelope always carries accountid
    through_outbox: bool  # staged in the deciding transaction, published by the outbox relay
    persistent: bool = True  # AMQP delivery mode 2; quotes are transient (1)

    @property
    def type(self) -> str:
        return self.contract.TYPE

    @property
    def name(self) -> str:
        return self.contract.__name__

    @property
    def exchange_name(self) -> str:
        return TOPOLOGY.commands if self.exchange == "commands" else TOPOLOGY.events

    @property
    def sample_routing_key(self) -> str:
        """A routing key it is published with, to match queue bindings against."""
        return quote_routing_key("AAPL") if self.contract is Quote else self.type


def _commands(*contracts: type[Contract]) -> list[Publication]:
    # gateway, api/orders.py _submit: the order's id as subject, the caller's account.
    return [
        Publication(
            contract,
            "gateway",
            "commands",
            subject="The order's id.",
            account_scoped=True,
            through_outbox=False,
        )
        for contract in contracts
    ]


def _account_commands(*contracts: type[Contract]) -> list[Publication]:
    # gateway, api/account.py (the account's kill switch); orders' operator CLI trading_block.py.
    return [
        Publication(
            contract,
            "gateway",
            "commands",
            subject="The account's id.",
            account_scoped=True,
            through_outbox=False,
        )
        for contract in contracts
    ]


def _account_events(*contracts: type[Contract]) -> list[Publication]:
    # orders, handlers/events.py OrderEvents.account_row.
    return [
        Publication(
            contract,
            "orders",
            "events",
            subject="The account's id.",
            account_scoped=True,
            through_outbox=True,
        )
        for contract in contracts
    ]


def _order_events(*contracts: type[Contract]) -> list[Publication]:
    # orders, handlers/events.py OrderEvents.outbox_row.
    return [
        Publication(
            contract,
            "orders",
            "events",
            subject="The order's id.",
            account_scoped=True,
            through_outbox=True,
        )
        for contract in contracts
    ]


def _webhook_events(*contracts: type[Contract]) -> list[Publication]:
    # webhooks, handlers/outcomes.py OutcomeRecorder._emit.
    return [
        Publication(
            contract,
            "webhooks",
            "events",
            subject="The endpoint's id.",
            account_scoped=True,
            through_outbox=True,
        )
        for contract in contracts
    ]


PUBLICATIONS: list[Publication] = [
    *_commands(PlaceOrder, CancelOrder, ReplaceOrder),
    # gateway, api/orders.py _announce: advisory, just before the cancel or replace command
    # (the stream's pending_cancel and pending_replace), transient like quotes.
    *(
        Publication(
            contract,
            "gateway",
            "events",
            subject="The order's id.",
            account_scoped=True,
            through_outbox=False,
            persistent=False,
        )
        for contract in (CancelRequested, ReplaceRequested)
    ),
    *_account_commands(BlockTrading, UnblockTrading),
    *_account_events(TradingBlocked, TradingUnblocked),
    # gateway, api/account.py request_statement: the job's id as subject, with the AMQP
    # priority of the job's priority (the jobs queue is a priority queue).
    Publication(
        RequestStatement,
        "gateway",
        "commands",
        subject="The job's id.",
        account_scoped=True,
        through_outbox=False,
    ),
    # orders, handlers/jobs.py StatementJobs._succeeded.
    Publication(
        JobSucceeded,
        "orders",
        "events",
        subject="The job's id.",
        account_scoped=True,
        through_outbox=True,
    ),
    *_order_events(
        OrderAccepted,
        OrderRejected,
        OrderCanceled,
        CancelRejected,
        OrderPartiallyFilled,
        OrderFilled,
        OrderExpired,
        OrderReplaced,
        ReplaceRejected,
    ),
    # market-data, handlers/quote_pipeline.py QuotePipeline._publish.
    Publication(
        Quote,
        "market-data",
        "events",
        subject="The symbol.",
        account_scoped=False,
        through_outbox=False,
        persistent=False,
    ),
    # market-data, handlers/announcer.py.
    Publication(
        InstrumentListed,
        "market-data",
        "events",
        subject="The symbol.",
        account_scoped=False,
        through_outbox=True,
    ),
    *_webhook_events(WebhookMessageFailed, WebhookEndpointDisabled),
]

# Contracts that never travel on the broker, and why.
NOT_PUBLISHED: dict[type[Contract], str] = {
    WebhookTest: "the body of a test delivery, queued by the webhooks service straight to the "
    "one endpoint that asked for it",
}


# --- who consumes what: from the services' queue declarations ---


@dataclass(frozen=True)
class Consumer:
    """One service's queue and what it takes from the exchanges."""

    service: str
    queue: QueueSpec
    how: str  # what the service does with a message, and how it is bound if not statically
    takes: Callable[[Publication], bool]

    @property
    def trait_id(self) -> str:
        """Its operation trait: the queue's name without the namespace or a per-process part."""
        name = self.queue.name.removeprefix(f"{TOPOLOGY.namespace}.")
        return "queue." + name.split(".<")[0]


def _bound_statically(queue: QueueSpec) -> Callable[[Publication], bool]:
    return lambda publication: any(
        binding.exchange == publication.exchange_name
        and topic_matches(binding.routing_key, publication.sample_routing_key)
        for binding in queue.bindings
    )


def _bound_on_demand(patterns: Sequence[str]) -> Callable[[Publication], bool]:
    return lambda publication: (
        publication.exchange == "events"
        and any(topic_matches(pattern, publication.sample_routing_key) for pattern in patterns)
    )


def _delivered_as_webhooks(publication: Publication) -> bool:
    # EventIntake hands over only what is_deliverable allows: events carrying an account id.
    account = "account" if publication.account_scoped else None
    return publication.exchange == "events" and is_deliverable(publication.type, account)


CONSUMERS: list[Consumer] = [
    Consumer(
        "orders",
        command_queue(TOPOLOGY),
        "In batches: one PostgreSQL transaction per batch (group commit), the message ids "
        "claimed in the inbox so a redelivery changes nothing.",
        _bound_statically(command_queue(TOPOLOGY)),
    ),
    Consumer(
        "orders",
        instrument_queue(TOPOLOGY),
        "Upserts the service's own copy of the instrument.",
        _bound_statically(instrument_queue(TOPOLOGY)),
    ),
    Consumer(
        "orders",
        quote_queue(TOPOLOGY),
        "Fills the symbol's orders the quote reaches; a quote not newer than the last one "
        "processed changes nothing.",
        _bound_statically(quote_queue(TOPOLOGY)),
    ),
    Consumer(
        "orders",
        jobs_queue(TOPOLOGY),
        "One job at a time (prefetch 1), higher priority first among the jobs waiting; a job "
        "is created once per id, a finished one is not run again, one not yet due "
        "(`not_before`) goes through the delay tiers again without counting an attempt.",
        _bound_statically(jobs_queue(TOPOLOGY)),
    ),
    Consumer(
        "gateway",
        QueueSpec(TOPOLOGY.queue_name("gateway", "stream.<id>"), exclusive=True),
        f"One per gateway process, bound with `{QUOTES}` while one of its "
        f"WebSocket clients wants quotes and with `{TRADE_UPDATES}` while one wants trade "
        "updates; the events go out as `quote` and `trade_update` frames on /api/v1/stream.",
        _bound_on_demand([QUOTES, TRADE_UPDATES]),
    ),
    Consumer(
        "webhooks",
        events_queue(TOPOLOGY),
        "Bound only with the patterns its enabled endpoints' filters need; an event carrying "
        "an account id becomes one signed delivery per matching endpoint of that account.",
        _delivered_as_webhooks,
    ),
]


# --- the document ---


def _project_version() -> str:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return str(project["version"])


INFO_DESCRIPTION = f"""\
Every command and event Tradewind's services exchange over RabbitMQ, generated from the code
(regenerate: `{REGENERATE}`).

**Names.** Every exchange and queue name starts with the namespace, `TRADEWIND_NAMESPACE`;
this document shows the default, `{NAMESPACE}`. Commands go to the `{TOPOLOGY.commands}` topic
exchange, events to `{TOPOLOGY.events}`, each with its type as routing key (quotes:
`market.quote.<symbol>`). Each channel is one routing key on one of those two exchanges.

**Envelope.** Every message body is a CloudEvents 1.0 event in structured JSON mode
(`{CONTENT_TYPE}`): the attributes, the extensions `accountid`, `correlationid`,
`causationid`, `traceparent`, `tracestate`, and the contract as `data`. The AMQP properties
mirror it: `message_id` is the event's id, `type` its type, `content_type` the same media type,
`app_id` the publishing service; the headers carry the W3C trace context.

**Delivery.** Publishing is mandatory with publisher confirms: an unroutable command is an
error, an unroutable event goes to the alternate exchange `{TOPOLOGY.unrouted_events}`.
Consumers ack after their handler returned; a failure is retried through the delay tiers
(`{TOPOLOGY.retry}`), then parked in the queue's `<queue>.parked`. Delivery is at least once:
consumers deduplicate by the event's id. Consumers ignore fields and types they do not know; a
breaking change gets a new type (`order.filled.v2`).
"""


def _server() -> dict[str, Any]:
    return {
        "host": "{host}:{port}",
        "protocol": "amqp",
        "protocolVersion": "0.9.1",
        "title": "RabbitMQ",
        "description": "The broker every service connects to (`TRADEWIND_AMQP_URL`; its path "
        "selects the vhost).",
        "variables": {
            "host": {"default": DEFAULT_AMQP_URL.hostname, "description": "RabbitMQ host."},
            "port": {"default": str(DEFAULT_AMQP_URL.port), "description": "AMQP port."},
        },
    }


def _channel_id(publication: Publication) -> str:
    return publication.type


def _exchange_bindings_id(exchange: Exchange) -> str:
    return f"{exchange}-exchange"


def _exchange_bindings(exchange: Exchange) -> dict[str, Any]:
    return {
        "amqp": {
            "is": "routingKey",
            "exchange": {
                "name": TOPOLOGY.commands if exchange == "commands" else TOPOLOGY.events,
                "type": "topic",
                "durable": True,
                "autoDelete": False,
                "vhost": DEFAULT_AMQP_URL.path.removeprefix("/") or "/",
            },
            "bindingVersion": AMQP_BINDING_VERSION,
        }
    }


def _channel(publication: Publication) -> dict[str, Any]:
    exchange = publication.exchange_name
    channel: dict[str, Any] = {
        "address": publication.type,
        "title": publication.type,
        "description": f"Routing key `{publication.type}` on the `{exchange}` topic exchange.",
        "messages": {publication.name: {"$ref": f"#/components/messages/{publication.name}"}},
        "bindings": {
            "$ref": f"#/components/channelBindings/{_exchange_bindings_id(publication.exchange)}"
        },
    }
    if publication.contract is Quote:
        channel["address"] = quote_routing_key("{symbol}")
        channel["description"] = (
            f"Routing key `{quote_routing_key('<symbol>')}` on the `{exchange}` topic exchange: "
            f"a consumer binds `{Quote.binding_pattern()}` for every symbol."
        )
        channel["parameters"] = {
            "symbol": {
                "description": "The quote's symbol, also its CloudEvents subject.",
                "examples": ["AAPL"],
                "location": "$message.payload#/subject",
            }
        }
    return channel


def _message_ref(publication: Publication) -> dict[str, str]:
    return {"$ref": f"#/channels/{_channel_id(publication)}/messages/{publication.name}"}


# How messages are published: one operation trait per way (description and AMQP bindings).
PUBLISHED_COMMAND = "published.command"
PUBLISHED_THROUGH_OUTBOX = "published.outbox"
PUBLISHED_DIRECTLY = "published.directly"
PUBLISHED_TRANSIENT = "published.transient"


def _publishing_trait(description: str, *, persistent: bool = True) -> dict[str, Any]:
    return {
        "description": description,
        "bindings": {
            "amqp": {
                "deliveryMode": 2 if persistent else 1,
                "mandatory": True,
                "timestamp": True,
                "bindingVersion": AMQP_BINDING_VERSION,
            }
        },
    }


PUBLISHING_TRAITS: dict[str, dict[str, Any]] = {
    PUBLISHED_COMMAND: _publishing_trait(
        "Published before the HTTP answer, mandatory, with confirms: a command no queue takes, "
        "or no confirm in time, makes the gateway answer 503."
    ),
    PUBLISHED_THROUGH_OUTBOX: _publishing_trait(
        "Staged in the publisher's outbox in the transaction that decided it, then published by "
        "the outbox relay once that committed, mandatory, with confirms (at least once)."
    ),
    PUBLISHED_DIRECTLY: _publishing_trait("Published directly, mandatory, with confirms."),
    PUBLISHED_TRANSIENT: _publishing_trait(
        "Published directly, mandatory, with confirms, transient (delivery mode 1): superseded "
        "within seconds, not worth a disk write.",
        persistent=False,
    ),
}


def _publishing_trait_id(publication: Publication) -> str:
    if publication.through_outbox:
        return PUBLISHED_THROUGH_OUTBOX
    if publication.exchange == "commands":
        return PUBLISHED_COMMAND
    return PUBLISHED_DIRECTLY if publication.persistent else PUBLISHED_TRANSIENT


def _queue_description(queue: QueueSpec) -> str:
    if queue.exclusive:
        return f"Queue `{queue.name}`, exclusive: deleted with its connection."
    bindings = ", ".join(f"`{binding.routing_key}`" for binding in queue.bindings)
    bound = f", bound with {bindings}" if bindings else ""
    kind = (
        "quorum" if queue.max_priority is None else f"classic, priorities 0 to {queue.max_priority}"
    )
    return (
        f"Queue `{queue.name}` ({kind}{bound}). Acked once handled; a failure is retried "
        f"through the delay tiers, then parked in `{queue.parking_lot}`."
    )


def _consuming_trait(consumer: Consumer) -> dict[str, Any]:
    return {
        "description": f"{_queue_description(consumer.queue)} {consumer.how}",
        "bindings": {"amqp": {"ack": True, "bindingVersion": AMQP_BINDING_VERSION}},
    }


def _operation(
    action: Literal["send", "receive"], service: str, publication: Publication, trait: str
) -> dict[str, Any]:
    verb = "publishes" if action == "send" else "consumes"
    return {
        "action": action,
        "channel": {"$ref": f"#/channels/{_channel_id(publication)}"},
        "title": f"{service} {verb} {publication.type}",
        "messages": [_message_ref(publication)],
        "tags": [{"name": service}],
        "traits": [{"$ref": f"#/components/operationTraits/{trait}"}],
    }


def _operations() -> Iterator[tuple[str, dict[str, Any]]]:
    for publication in PUBLICATIONS:
        yield (
            f"{publication.service}.publishes.{publication.type}",
            _operation("send", publication.service, publication, _publishing_trait_id(publication)),
        )
        for consumer in CONSUMERS:
            if consumer.takes(publication):
                yield (
                    f"{consumer.service}.consumes.{publication.type}",
                    _operation("receive", consumer.service, publication, consumer.trait_id),
                )


def _envelope(publication: Publication) -> dict[str, Any]:
    """The message body: the CloudEvent, narrowed to what this publisher writes."""
    attributes: dict[str, Any] = {
        "type": {"const": publication.type},
        "source": {"const": event_source(publication.service)},
        "subject": {"type": "string", "description": publication.subject},
        "datacontenttype": {"const": "application/json"},
    }
    required = ["subject"]
    if publication.account_scoped:
        attributes["accountid"] = {"type": "string", "description": "The account concerned."}
        required.append("accountid")
    attributes["data"] = {"$ref": f"{SCHEMAS}{publication.name}"}
    return {
        "allOf": [
            {"$ref": f"{SCHEMAS}{CloudEvent.__name__}"},
            {"type": "object", "properties": attributes, "required": required},
        ]
    }


def _message(publication: Publication) -> dict[str, Any]:
    message: dict[str, Any] = {"name": publication.type, "title": publication.name}
    docstring = publication.contract.__doc__  # a class's own: None if it has none
    if docstring:
        message["summary"] = " ".join(docstring.split())
    return message | {
        "contentType": CONTENT_TYPE,
        "headers": {"$ref": f"{SCHEMAS}AmqpHeaders"},
        "payload": _envelope(publication),
        "correlationId": {"$ref": "#/components/correlationIds/CloudEventCorrelationId"},
        "bindings": {
            "amqp": {"messageType": publication.type, "bindingVersion": AMQP_BINDING_VERSION}
        },
    }


AMQP_HEADERS: dict[str, Any] = {
    "type": "object",
    "description": "The AMQP headers table. OpenTelemetry's propagators write the trace "
    "context of the publishing work (W3C by default); the retry path adds its own headers.",
    "properties": {
        "traceparent": {
            "type": "string",
            "description": "W3C trace context of the work that published the message.",
        },
        "tracestate": {"type": "string", "description": "W3C tracestate, with traceparent."},
        ATTEMPT_HEADER: {
            "type": "integer",
            "minimum": 2,
            "description": "Set on a delivery after a failed attempt: this attempt's number.",
        },
        RETRY_TIER_HEADER: {
            "type": "string",
            "description": "Set on a delivery after a failed attempt: the delay tier it waited "
            f"in ({', '.join(TOPOLOGY.tier_name(d) for d in TOPOLOGY.retry_delays_ms)}).",
        },
        UNAVAILABLE_HEADER: {
            "type": "integer",
            "minimum": 1,
            "description": "Set on a delivery whose handler failed because a store it needs was "
            "unreachable: how many such retries it had. They spend no attempt.",
        },
    },
}


def _schemas() -> dict[str, Any]:
    """The envelope and every contract, with what they refer to, as components/schemas."""
    models: list[tuple[type[Any], Literal["serialization"]]] = [(CloudEvent, "serialization")]
    models += [(publication.contract, "serialization") for publication in PUBLICATIONS]
    # One pass over all models: a type they share (OrderSnapshot) gets one schema and one name.
    _, definitions = models_json_schema(models, ref_template=SCHEMAS + "{model}")
    schemas: dict[str, Any] = definitions["$defs"]
    schemas["AmqpHeaders"] = AMQP_HEADERS
    return dict(sorted(schemas.items()))


def document() -> dict[str, Any]:
    publications = sorted(PUBLICATIONS, key=lambda p: p.type)
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Tradewind messaging",
            "version": _project_version(),
            "description": INFO_DESCRIPTION,
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {SERVER: _server()},
        "channels": {_channel_id(p): _channel(p) for p in publications},
        "operations": dict(sorted(_operations())),
        "components": {
            "schemas": _schemas(),
            "messages": {p.name: _message(p) for p in sorted(PUBLICATIONS, key=lambda p: p.name)},
            "channelBindings": {
                _exchange_bindings_id(exchange): _exchange_bindings(exchange)
                for exchange in EXCHANGES
            },
            "operationTraits": dict(
                sorted(
                    [
                        *PUBLISHING_TRAITS.items(),
                        *((c.trait_id, _consuming_trait(c)) for c in CONSUMERS),
                    ]
                )
            ),
            "correlationIds": {
                "CloudEventCorrelationId": {
                    "description": "The CloudEvents correlationid extension.",
                    "location": "$message.payload#/correlationid",
                }
            },
        },
    }


class _Dumper(yaml.SafeDumper):
    """Multi-line text as YAML block literals, so the document reads as it was written."""


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _represent_text)

HEADER = (
    "# Generated from the code by tools/asyncapi/asyncapi_document.py; do not edit.\n"
    f"# Regenerate: {REGENERATE}\n"
)


def document_text() -> str:
    return HEADER + yaml.dump(document(), Dumper=_Dumper, sort_keys=False, width=100)


def main(arguments: Sequence[str]) -> int:
    text = document_text()
    if list(arguments) == ["--write"]:
        DOCUMENT.write_text(text)
        return 0
    if list(arguments) == ["--check"]:
        if DOCUMENT.is_file() and DOCUMENT.read_text() == text:
            return 0
        shown = DOCUMENT.relative_to(ROOT) if DOCUMENT.is_relative_to(ROOT) else DOCUMENT
        sys.stderr.write(f"{shown} is stale: regenerate it with `{REGENERATE}`\n")
        return 1
    if arguments:
        sys.stderr.write(__doc__ or "")
        return 2
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
