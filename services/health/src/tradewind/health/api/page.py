"""The operators' status page: one self-contained HTML document, no scripts, auto-refreshed.

Everything that comes from a service (check names, details, breaker names) is untrusted text and is
escaped; the page's Content-Security-Policy forbids scripts in case something ever is not.
"""

from __future__ import annotations

import math
from datetime import datetime
from html import escape

from tradewind.health.api.page_work import (
    WORK_STYLE,
    backlogs_table,
    queues_table,
    reasons_and_notes,
)
from tradewind.health.api.schemas import CheckView, DependencyView, ServiceView, StatusReport

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)

_STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5rem;
       color: #1f2328; background: #f6f8fa; }
h1 { font-size: 1.4rem; margin: 0 0 .25rem; }
h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
.meta, small { color: #59636e; }
table { border-collapse: collapse; width: 100%; background: #fff; }
th, td { text-align: left; vertical-align: top; padding: .45rem .6rem;
         border-bottom: 1px solid #d1d9e0; }
th { background: #eef1f4; font-weight: 600; }
ul { margin: 0; padding-left: 1rem; }
.badge { display: inline-block; padding: .05rem .5rem; border-radius: 1rem; font-weight: 600;
         color: #fff; text-transform: uppercase; font-size: .8rem; }
.overall { font-size: 1.1rem; padding: .2rem .9rem; }
.up { background: #1a7f37; } .degraded { background: #9a6700; }
.down, .unreachable { background: #cf222e; }
.breaker-open { color: #cf222e; font-weight: 600; } .breaker-half_open { color: #9a6700; }
.check-up { color: #1a7f37; } .check-degraded { color: #9a6700; }
.check-down, .check-unknown { color: #cf222e; }
"""


NOTHING = "&ndash;"


def format_duration(seconds: float) -> str:
    """A short human duration: 45s, 3m 05s, 2h 07m, 3d 04h."""
    total = max(0, math.floor(seconds))
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def _time(moment: datetime) -> str:
    return escape(moment.strftime("%Y-%m-%d %H:%M:%S UTC"))


def _badge(status: str, *, extra_class: str = "") -> str:
    classes = f"badge {escape(status)} {extra_class}".strip()
    return f'<span class="{classes}">{escape(status)}</span>'


def _latency(latency_ms: float | None) -> str:
    return NOTHING if latency_ms is None else f"{latency_ms:.1f} ms"


def _status_cell(view: ServiceView | DependencyView) -> str:
    cell = _badge(view.status)
    if view.previous_status is not None:
        cell += f"<br><small>was {escape(view.previous_status)}</small>"
    if view.detail:
        cell += f"<br><small>{escape(view.detail)}</small>"
    if isinstance(view, ServiceView):
        cell += reasons_and_notes(view)
    return cell


def _duration_cell(view: ServiceView | DependencyView) -> str:
    return (
        f"{escape(format_duration(view.status_for_s))}<br><small>since {_time(view.since)}</small>"
    )


def _check_item(name: str, check: CheckView) -> str:
    detail = f" — {escape(check.detail)}" if check.detail else ""
    return (
        f'<li><span class="check-{escape(check.status)}">{escape(name)}: '
        f"{escape(check.status)}</span>{detail}</li>"
    )


def _checks_cell(view: ServiceView) -> str:
    if not view.checks:
        return NOTHING
    return "<ul>" + "".join(_check_item(n, c) for n, c in view.checks.items()) + "</ul>"


def _breakers_cell(view: ServiceView) -> str:
    if view.breakers is None:
        return "<small>unknown</small>"
    if not view.breakers:
        return NOTHING
    items = "".join(
        f'<li class="breaker-{escape(state)}">{escape(name)}: {escape(state)}'
        f"{_breaker_since(view, name)}</li>"
        for name, state in view.breakers.items()
    )
    return f"<ul>{items}</ul>"


def _breaker_since(view: ServiceView, name: str) -> str:
    since = view.breaker_changes.get(name)
    return "" if since is None else f" <small>since {_time(since)}</small>"


def _status_columns(view: ServiceView | DependencyView) -> str:
    """The Status, For and Latency cells, which services and dependencies share."""
    return (
        f"<td>{_status_cell(view)}</td>"
        f"<td>{_duration_cell(view)}</td>"
        f"<td>{_latency(view.latency_ms)}</td>"
    )


def _services_table(services: dict[str, ServiceView]) -> str:
    if not services:
        return "<p>No services are configured.</p>"
    rows = "".join(
        "<tr>"
        f"<td><strong>{escape(name)}</strong><br><small>{escape(view.url)}</small></td>"
        f"{_status_columns(view)}"
        f"<td>{_checks_cell(view)}</td>"
        f"<td>{_breakers_cell(view)}</td>"
        "</tr>"
        for name, view in services.items()
    )
    return (
        "<table><thead><tr><th>Service</th><th>Status</th><th>For</th><th>Latency</th>"
        f"<th>Checks</th><th>Circuit breakers</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _dependencies_table(dependencies: dict[str, DependencyView]) -> str:
    if not dependencies:
        return "<p>No dependencies are configured.</p>"
    rows = "".join(
        f"<tr><td><strong>{escape(name)}</strong></td>{_status_columns(view)}</tr>"
        for name, view in dependencies.items()
    )
    return (
        "<table><thead><tr><th>Dependency</th><th>Status</th><th>For</th><th>Latency</th>"
        f"</tr></thead><tbody>{rows}</tbody></table>"
    )


def _transitions_list(report: StatusReport) -> str:
    if not report.transitions:
        return "<p>No status changes since the health service started.</p>"
    items = "".join(
        f"<li>{_time(t.at)} — {escape(t.kind)} <strong>{escape(t.name)}</strong>: "
        f"{escape(t.from_status)} → {escape(t.to_status)}</li>"
        for t in report.transitions
    )
    return f"<ul>{items}</ul>"


def render_status_page(report: StatusReport) -> str:
    refresh_s = max(1, math.ceil(report.poll_interval_s))
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="{refresh_s}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tradewind health: {escape(report.status)}</title>
<style>{_STYLE}{WORK_STYLE}</style>
</head>
<body>
<h1>Tradewind health {_badge(report.status, extra_class="overall")}</h1>
<p class="meta">As of {_time(report.generated_at)} · refreshes every {refresh_s} s ·
<a href="/api/v1/status">JSON</a></p>
<h2>Services</h2>
{_services_table(report.services)}
<h2>Queues</h2>
{queues_table(report.services, report.queue_source)}
<h2>Outboxes and webhook deliveries</h2>
{backlogs_table(report.services)}
<h2>Dependencies</h2>
{_dependencies_table(report.dependencies)}
<h2>Recent changes</h2>
{_transitions_list(report)}
</body>
</html>
"""
