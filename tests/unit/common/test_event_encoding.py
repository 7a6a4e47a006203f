"""Events encoded in one pass are byte for byte what the CloudEvent model would write."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from pydantic import BaseModel

from tradewind.common.contracts import PositionSnapshot
from tradewind.common.envelope import CloudEvent, encode_event, encoded_event, new_event
from tradewind.common.outbox import event_message, outbox_message

AT = datetime(2026, 12, 2, 9, 30, 0, 123456, tzinfo=UTC)


class Note(BaseModel):
    text: str
    maybe: int | None = None


def _made_by_new_event(
    data: Note,
    subject: str | None,
    account_id: str | None,
    correlation_id: str | None,
    causation_id: str | None = None,
) -> CloudEvent:
    return new_event(
        source="/tests",
        data=data,
        event_type="test.noted",
        subject=subject,
        account_id=account_id,
        correlation_id=correlation_id,
        causation_id=causation_id,
        event_id="event-1",
        time=AT,
    )


@pytest.mark.parametrize(
    ("subject", "account_id", "correlation_id", "causation_id"),
    [
        (None, None, None, None),
        ("order-1", "acct-1", 'req "quoted"', "cause-1"),
        ("order-2", None, None, "cause-2"),
    ],
)
def test_encode_event_writes_what_the_envelope_model_writes(
    subject: str | None,
    account_id: str | None,
    correlation_id: str | None,
    causation_id: str | None,
) -> None:
    data = Note(text='h\u00e9llo "there"\n')
    model = _made_by_new_event(data, subject, account_id, correlation_id, causation_id)

    encoded = encode_event(
        data,
        event_id="event-1",
        source="/tests",
        event_type="test.noted",
        time=AT,
        subject=subject,
        extensions={
            "accountid": account_id,
            "correlationid": correlation_id,
            "causationid": causation_id,
        },
    )

    assert encoded == model.to_json()
    assert CloudEvent.from_json(encoded) == model


@pytest.mark.parametrize(
    ("subject", "account_id", "correlation_id"),
    [(None, None, None), ("order-1", "acct-1", 'req "quoted" \u00e9')],
)
def test_an_encoded_event_reads_back_as_the_event_new_event_makes(
    subject: str | None, account_id: str | None, correlation_id: str | None
) -> None:
    data = Note(text='h\u00e9llo "there"\n', maybe=3)
    model = _made_by_new_event(data, subject, account_id, correlation_id)

    encoded = encoded_event(
        source="/tests",
        data=data.model_dump(mode="json"),
        event_type="test.noted",
        time=AT,
        subject=subject,
        account_id=account_id,
        correlation_id=correlation_id,
        event_id="event-1",
    )

    assert CloudEvent.from_json(encoded.to_json()) == model
    # What the broker client sets beside the body (message id, type, timestamp, correlation).
    assert (encoded.id, encoded.type, encoded.time, encoded.correlationid) == (
        model.id,
        model.type,
        model.time,
        model.correlationid,
    )


def test_an_encoded_event_gets_an_id_of_its_own() -> None:
    first, second = (
        encoded_event(source="/tests", data={}, event_type="test.noted", time=AT) for _ in "ab"
    )
    assert first.id != second.id
    assert CloudEvent.from_json(first.to_json()).id == first.id


def test_an_event_message_is_the_row_outbox_message_builds_with_the_trace_of_its_span() -> None:
    tracer = TracerProvider().get_tracer("tests")
    data = PositionSnapshot(
        account_id="a",
        symbol="ACME",
        qty=Decimal("1.5"),
        avg_entry_price=Decimal("10"),
        realized_pl=Decimal(0),
        updated_at=AT,
    )
    with tracer.start_as_current_span("work"):
        fast = event_message(
            data,
            event_type="position.changed",
            source="/tests",
            exchange="events",
            time=AT,
            subject="a",
            account_id="a",
            event_id="event-2",
        )
        slow = outbox_message(
            new_event(
                source="/tests",
                data=data,
                event_type="position.changed",
                subject="a",
                account_id="a",
                event_id="event-2",
                time=AT,
            ),
            exchange="events",
        )
        span_context = trace.get_current_span().get_span_context()

    assert fast == slow
    assert f"{span_context.trace_id:032x}" in fast.headers["traceparent"]
    assert CloudEvent.from_json(fast.body).traceparent == fast.headers["traceparent"]
