"""What the health service reads from a service's /metrics page: its circuit breakers, its outbox
relay and (the webhooks service) its delivery backlog.

Only the lines of the few families read here go to the Prometheus parser, one family at a time,
so a malformed line of some other metric (or of another of these families) cannot hide the rest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tradewind.common.resilience import BreakerState
from tradewind.health.domain.readings import OutboxReading, WebhookReading

BREAKER_METRIC = "tradewind_circuit_breaker_state"
OUTBOX_LAG_METRIC = "tradewind_outbox_lag_seconds"
# Exported only by a process that runs an outbox relay: its presence says "has an outbox".
OUTBOX_BACKLOG_METRIC = "tradewind_outbox_backlog"
WEBHOOK_PENDING_METRIC = "tradewind_webhook_deliveries_pending"
WEBHOOK_DISABLED_METRIC = "tradewind_webhook_disabled_endpoints"
READ_METRICS = frozenset(
    {
        BREAKER_METRIC,
        OUTBOX_LAG_METRIC,
        OUTBOX_BACKLOG_METRIC,
        WEBHOOK_PENDING_METRIC,
        WEBHOOK_DISABLED_METRIC,
    }
)

# The gauge's encoding, from tradewind.common.resilience.breaker.
_BREAKER_STATE_BY_VALUE: Mapping[float, str] = {
    0.0: BreakerState.CLOSED.value,
    1.0: BreakerState.HALF_OPEN.value,
    2.0: BreakerState.OPEN.value,
}
UNKNOWN_BREAKER_STATE = "unknown"


@dataclass(frozen=True, slots=True)
class ServiceMetrics:
    """What one /metrics page said; None where the family was absent or unreadable."""

    breakers: dict[str, str] | None
    outbox: OutboxReading | None
    webhooks: WebhookReading | None


def _metric_of(line: str) -> str | None:
    """The family a line of the text format belongs to, if it is one of READ_METRICS."""
    if line.startswith("#"):
        words = line.split(maxsplit=3)
        if len(words) >= 3 and words[1] in {"HELP", "TYPE"} and words[2] in READ_METRICS:
            return words[2]
        return None
    end = len(line)
    for separator in ("{", " "):
        found = line.find(separator)
        if found != -1:
            end = min(end, found)
    name = line[:end]
    return name if name in READ_METRICS else None


def _lines_by_metric(metrics_text: str) -> dict[str, str]:
    lines: dict[str, list[str]] = {}
    for line in metrics_text.splitlines():
        metric = _metric_of(line)
        if metric is not None:
            lines.setdefault(metric, []).append(line)
    return {metric: "".join(f"{line}\n" for line in found) for metric, found in lines.items()}


def _samples(family_text: str, name: str) -> Iterable[Sample]:
    """Samples named ``name``; raises ValueError on a malformed line."""
    for family in text_string_to_metric_families(family_text):
        yield from (sample for sample in family.samples if sample.name == name)


def _breakers(family_text: str) -> dict[str, str]:
    states: dict[str, str] = {}
    for sample in _samples(family_text, BREAKER_METRIC):
        breaker = sample.labels.get("breaker")
        if breaker:
            states[breaker] = _BREAKER_STATE_BY_VALUE.get(sample.value, UNKNOWN_BREAKER_STATE)
    return dict(sorted(states.items()))


def parse_breaker_states(metrics_text: str) -> dict[str, str]:
    """Breaker name -> state (closed, half_open, open, unknown) from Prometheus text format.

    A malformed breaker line raises ValueError; other metrics' lines are never parsed.
    """
    return _breakers(_lines_by_metric(metrics_text).get(BREAKER_METRIC, ""))


def _single_value(family_text: str | None, name: str) -> float | None:
    if family_text is None:
        return None
    values = [sample.value for sample in _samples(family_text, name)]
    return max(values) if values else None


def _count(value: float) -> int:
    return max(0, round(value))


def _outbox(by_metric: Mapping[str, str]) -> OutboxReading | None:
    backlog = _single_value(by_metric.get(OUTBOX_BACKLOG_METRIC), OUTBOX_BACKLOG_METRIC)
    if backlog is None:
        return None  # no relay runs in this process: the service has no outbox
    lag = _single_value(by_metric.get(OUTBOX_LAG_METRIC), OUTBOX_LAG_METRIC)
    return OutboxReading(lag_s=max(0.0, lag or 0.0), backlog=_count(backlog))


def _webhooks(by_metric: Mapping[str, str]) -> WebhookReading | None:
    pending = _single_value(by_metric.get(WEBHOOK_PENDING_METRIC), WEBHOOK_PENDING_METRIC)
    if pending is None:
        return None  # not the webhooks service
    disabled: dict[str, float] = {}
    for sample in _samples(by_metric.get(WEBHOOK_DISABLED_METRIC, ""), WEBHOOK_DISABLED_METRIC):
        disabled[sample.labels.get("disabled_by", "")] = sample.value
    return WebhookReading(
        pending_deliveries=_count(pending),
        disabled_by_service=_count(disabled.get("service", 0.0)),
        disabled_by_account=_count(disabled.get("account", 0.0)),
    )


def parse_service_metrics(metrics_text: str) -> ServiceMetrics:
    """Everything the status needs from one /metrics page, each part read on its own."""
    by_metric = _lines_by_metric(metrics_text)
    breakers: dict[str, str] | None
    try:
        breakers = _breakers(by_metric.get(BREAKER_METRIC, ""))
    except ValueError:
        breakers = None
    try:
        outbox = _outbox(by_metric)
    except ValueError:
        outbox = None
    try:
        webhooks = _webhooks(by_metric)
    except ValueError:
        webhooks = None
    return ServiceMetrics(breakers=breakers, outbox=outbox, webhooks=webhooks)
