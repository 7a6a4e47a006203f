"""The status page's sections about work piling up: queues, outboxes, webhook deliveries.

One row per queue and per service, figures right-aligned, anything that needs a look in colour:
a queue without consumer or missing (amber, it degrades its service), parked messages (amber,
they wait for an operator), a figure the broker could not give (grey). Names come from the
catalog and the services' metrics, and are escaped like everything else.
"""

from __future__ import annotations

from html import escape

from tradewind.health.api.schemas import QueueSource, QueueView, ServiceView

NOTHING = "&ndash;"

WORK_STYLE = """
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.q { display: inline-block; padding: .05rem .5rem; border-radius: 1rem; font-weight: 600;
     font-size: .8rem; color: #fff; }
.q-ok { background: #1a7f37; } .q-no_consumer, .q-missing { background: #9a6700; }
.q-unknown { background: #6e7781; }
.attention { color: #9a6700; font-weight: 600; }
.reasons { color: #9a6700; margin: .25rem 0 0; } .notes { color: #59636e; margin: .25rem 0 0; }
"""

_QUEUE_STATUS_TEXT = {
    "ok": "consumed",
    "no_consumer": "no consumer",
    "missing": "missing",
    "unknown": "unknown",
}


def _number(value: int | None, *, attention: bool = False) -> str:
    if value is None:
        return f'<td class="num">{NOTHING}</td>'
    css = "num attention" if attention and value > 0 else "num"
    return f'<td class="{css}">{value}</td>'


def _queue_row(service: str, queue: QueueView) -> str:
    text = _QUEUE_STATUS_TEXT.get(queue.status.value, queue.status.value)
    detail = f"<br><small>{escape(queue.detail)}</small>" if queue.detail else ""
    return (
        "<tr>"
        f"<td>{escape(service)}</td>"
        f"<td>{escape(queue.name)}</td>"
        f'<td><span class="q q-{escape(queue.status.value)}">{escape(text)}</span>{detail}</td>'
        f"{_number(queue.ready)}"
        f"{_number(queue.unacked)}"
        f"{_number(queue.consumers)}"
        f"{_number(queue.parked, attention=True)}"
        "</tr>"
    )


def queues_table(services: dict[str, ServiceView], source: QueueSource) -> str:
    rows = "".join(
        _queue_row(name, queue) for name, view in services.items() for queue in view.queues
    )
    origin = (
        "RabbitMQ management API"
        if source == "management_api"
        else "passive declares over AMQP (no unacked count)"
    )
    if not rows:
        return "<p>No watched service consumes a queue.</p>"
    return (
        f'<p class="meta">From {escape(origin)}. Parked: messages that failed for good, in '
        "<code>&lt;queue&gt;.parked</code>, waiting for an operator.</p>"
        "<table><thead><tr><th>Service</th><th>Queue</th><th>State</th>"
        '<th class="num">Ready</th><th class="num">Unacked</th><th class="num">Consumers</th>'
        f'<th class="num">Parked</th></tr></thead><tbody>{rows}</tbody></table>'
    )


def _lag(view: ServiceView) -> str:
    if view.outbox is None:
        return f'<td class="num">{NOTHING}</td>'
    lag = view.outbox.lag_s
    text = f"{lag:.0f} s" if lag >= 10 else f"{lag:.1f} s"
    css = "num attention" if view.outbox.behind else "num"
    return f'<td class="{css}">{text}</td>'


def backlogs_table(services: dict[str, ServiceView]) -> str:
    shown = {
        name: view
        for name, view in services.items()
        if view.outbox is not None or view.webhooks is not None
    }
    if not shown:
        return "<p>No outbox or webhook figures (no service exports them, or none answered).</p>"
    rows = "".join(
        "<tr>"
        f"<td>{escape(name)}</td>"
        f"{_lag(view)}"
        f"{_number(view.outbox.backlog if view.outbox else None)}"
        f"{_number(view.webhooks.pending_deliveries if view.webhooks else None)}"
        f"{_number(view.webhooks.disabled_endpoints if view.webhooks else None, attention=True)}"
        "</tr>"
        for name, view in shown.items()
    )
    return (
        "<table><thead><tr><th>Service</th>"
        '<th class="num">Outbox lag</th><th class="num">Outbox backlog</th>'
        '<th class="num">Webhook deliveries pending</th>'
        '<th class="num">Endpoints disabled</th>'
        f"</tr></thead><tbody>{rows}</tbody></table>"
    )


def reasons_and_notes(view: ServiceView) -> str:
    """Under a service's status: why it is degraded, and what else deserves a look."""
    html = ""
    if view.reasons:
        html += '<ul class="reasons">' + "".join(
            f"<li>{escape(reason)}</li>" for reason in view.reasons
        )
        html += "</ul>"
    if view.notes:
        html += '<ul class="notes">' + "".join(f"<li>{escape(note)}</li>" for note in view.notes)
        html += "</ul>"
    return html
