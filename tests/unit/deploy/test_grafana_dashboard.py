"""deploy/grafana: the dashboard reads only series that exist, every panel is complete and follows
the dashboard's variables, the Docker stack provisions it, and the runbook names a panel for
every alert.

A series a query reads must be one our code defines (found in the prometheus_client constructors
of libs/ and services/, with the suffixes the client adds: so a metric renamed in the code and not
on the dashboard fails here), one of the RabbitMQ families the scrape asks for, a series a rule of
deploy/prometheus/alerts.yml records, or `up`; labels matched on must be the series' own, and
panels group only by labels with a small, known set of values. promtool has no command that
parses a bare expression in the version Debian ships (2.42), so every query goes through
`promtool check rules` as a recording rule, which parses it with Prometheus's own parser. Each
check returns its problems as text; the last tests break a copy in one way per check and show
that each is caught.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from support.prometheus_series import (
    PROMETHEUS_SERIES,
    ROOT,
    TARGET_LABELS,
    code_series,
    load_yaml,
    parse,
    rabbitmq_series,
)
from support.promtool import explain, run_promtool

GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "tradewind.json"
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "prometheus.yaml"
PROVIDERS = GRAFANA / "provisioning" / "dashboards" / "tradewind.yaml"
COMPOSE = ROOT / "docker-compose.yml"
PROMETHEUS_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
RUNBOOK = ROOT / "docs" / "operations.md"
RUNBOOK_SECTION = "### The Grafana dashboard"

# Every panel and query names its data source through this variable, never a fixed uid.
DATASOURCE_REF = {"type": "prometheus", "uid": "${datasource}"}
GRID_COLUMNS = 24
# The labels a panel may group by: each has a small set of values, fixed by the code or the
# deployment (route is left out: one series per route template, too many lines for a panel).
BOUNDED_LABELS = {
    "job",
    "instance",
    "service",
    "dependency",
    "breaker",
    "queue",
    "exchange",
    "outcome",
    "status",
    "source",
    "type",
    "counted_by",
    "le",
}
# Series that belong to no one service: the only ones a query may read without `$service`.
SHARED_SERIES = {"tradewind_dependency_up"}
# What Grafana puts in place of its variables before Prometheus sees a query: a multi-value
# `$service` becomes a regex alternation, the intervals become durations.
GRAFANA_VARIABLES = {
    "$__rate_interval": "20s",
    "$__interval": "5s",
    "$__range": "1h",
    "${service}": "(gateway|orders)",
    "$service": "(gateway|orders)",
}
_VARIABLE = re.compile(r"\$\{?(\w+)")
_LABEL_VALUES = re.compile(r"label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*(\w+)\s*\)")


# --- the files, as data -----------------------------------------------------------------------


@dataclass
class Files:
    dashboard: dict[str, Any]
    datasources: dict[str, Any]
    providers: dict[str, Any]
    compose: dict[str, Any]
    rules: dict[str, Any]
    prometheus: dict[str, Any]
    runbook: str


@pytest.fixture(scope="module")
def files() -> Files:
    return Files(
        dashboard=json.loads(DASHBOARD.read_text(encoding="utf-8")),
        datasources=load_yaml(DATASOURCES),
        providers=load_yaml(PROVIDERS),
        compose=load_yaml(COMPOSE),
        rules=load_yaml(RULES),
        prometheus=load_yaml(PROMETHEUS_CONFIG),
        runbook=RUNBOOK.read_text(encoding="utf-8"),
    )


def all_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, rows and the panels inside collapsed rows included."""
    panels: list[dict[str, Any]] = []
    for panel in dashboard.get("panels", []):
        panels.append(panel)
        panels.extend(panel.get("panels") or [])
    return panels


@dataclass(frozen=True)
class Query:
    panel_id: int
    panel_title: str
    ref: str
    expr: str

    @property
    def where(self) -> str:
        return f"panel {self.panel_title!r} {self.ref}"


def queries(dashboard: dict[str, Any]) -> Iterator[Query]:
    for panel in all_panels(dashboard):
        for target in panel.get("targets") or []:
            yield Query(
                panel_id=panel.get("id", 0),
                panel_title=str(panel.get("title")),
                ref=str(target.get("refId")),
                expr=str(target.get("expr", "")),
            )


def variables(dashboard: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in dashboard.get("templating", {}).get("list", [])}


def as_prometheus_sees_it(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


def known_series(files: Files) -> dict[str, frozenset[str]]:
    """What Prometheus can have, with its labels: our code's series, the RabbitMQ families the
    scrape asks for, what the rules record (labels: the scrape's own), and `up`."""
    recorded = {
        rule["record"]: TARGET_LABELS
        for group in files.rules["groups"]
        for rule in group["rules"]
        if "record" in rule
    }
    return {**code_series(), **rabbitmq_series(files.prometheus), **recorded, **PROMETHEUS_SERIES}


# --- checks: each returns its problems as text -----------------------------------------------


def panel_problems(dashboard: dict[str, Any]) -> list[str]:
    """Unique ids, a title, a place on the grid, the data source through the variable."""
    problems: list[str] = []
    seen: set[int] = set()
    for panel in all_panels(dashboard):
        title = panel.get("title")
        name = f"panel {title!r}"
        panel_id = panel.get("id")
        if not isinstance(panel_id, int) or panel_id in seen:
            problems.append(f"{name}: id {panel_id!r} is missing or used twice")
        else:
            seen.add(panel_id)
        if not isinstance(title, str) or not title.strip():
            problems.append(f"panel {panel_id}: no title")
        grid = panel.get("gridPos") or {}
        if not all(isinstance(grid.get(key), int) for key in ("h", "w", "x", "y")):
            problems.append(f"{name}: gridPos {grid!r} lacks h, w, x or y")
        elif grid["x"] + grid["w"] > GRID_COLUMNS:
            problems.append(f"{name}: gridPos runs past column {GRID_COLUMNS}")
        if panel.get("type") == "row":
            continue
        if panel.get("datasource") != DATASOURCE_REF:
            problems.append(f"{name}: datasource {panel.get('datasource')!r}, not the variable")
        targets = panel.get("targets") or []
        if not targets:
            problems.append(f"{name}: no query")
        for target in targets:
            if target.get("datasource") != DATASOURCE_REF:
                problems.append(f"{name} {target.get('refId')}: datasource not the variable")
            if not str(target.get("expr", "")).strip():
                problems.append(f"{name} {target.get('refId')}: no expression")
        refs = [target.get("refId") for target in targets]
        if len(set(refs)) != len(refs):
            problems.append(f"{name}: refIds {refs} repeat")
    return problems


def variable_problems(dashboard: dict[str, Any], known: dict[str, frozenset[str]]) -> list[str]:
    """A Prometheus data source variable, and a `service` variable that lists the scrape jobs of
    our services from a series they all expose."""
    found = variables(dashboard)
    problems: list[str] = []
    datasource = found.get("datasource", {})
    if datasource.get("type") != "datasource" or datasource.get("query") != "prometheus":
        problems.append(f"no Prometheus data source variable `datasource`: {datasource!r}")
    service = found.get("service", {})
    query = service.get("query")
    text = query.get("query") if isinstance(query, dict) else query
    values = _LABEL_VALUES.fullmatch(str(text or "").strip())
    if service.get("datasource") != DATASOURCE_REF:
        problems.append("variable `service`: its datasource is not the variable")
    if values is None:
        problems.append(f"variable `service`: {text!r} is not label_values(<series>, job)")
    else:
        series, label = values.groups()
        if series not in known:
            problems.append(f"variable `service`: {series} is no series Prometheus has")
        elif label != "job":
            problems.append(f"variable `service`: lists {label!r}, not the scrape job")
    if not (service.get("multi") and service.get("includeAll")):
        problems.append("variable `service`: not multi-value with All")
    return problems


def series_problems(dashboard: dict[str, Any], known: dict[str, frozenset[str]]) -> list[str]:
    """Every series read exists; every label matched on is one it has; grouping stays bounded."""
    problems: list[str] = []
    for query in queries(dashboard):
        where, expr = query.where, query.expr
        expression = parse(as_prometheus_sees_it(expr))
        for name in expression.series:
            if name not in known:
                problems.append(
                    f"{where}: {name} is no series of our code, of the RabbitMQ families the "
                    "scrape asks for, of a recording rule, or of Prometheus"
                )
        for name, label in expression.matched_labels:
            labels = known.get(name)
            if labels is not None and label not in labels | TARGET_LABELS:
                problems.append(f"{where}: {name} has no label {label!r}")
        for label in expression.grouping_labels:
            if label not in BOUNDED_LABELS:
                problems.append(f"{where}: groups by {label!r}, not one of the bounded labels")
        if "histogram_quantile" in expr and "le" not in expression.grouping_labels:
            problems.append(f"{where}: histogram_quantile over buckets not grouped by le")
    return problems


def filter_problems(dashboard: dict[str, Any]) -> list[str]:
    """Every query follows the dashboard's variables: `$service` narrows each one that reads a
    service's series, and no query names a variable the dashboard does not define."""
    defined = set(variables(dashboard)) | {"__rate_interval", "__interval", "__range"}
    problems: list[str] = []
    for query in queries(dashboard):
        where, expr = query.where, query.expr
        undefined = set(_VARIABLE.findall(expr)) - defined
        if undefined:
            problems.append(f"{where}: undefined variables {sorted(undefined)}")
        read = set(parse(as_prometheus_sees_it(expr)).series)
        if "$service" not in expr and not read <= SHARED_SERIES:
            problems.append(f"{where}: not narrowed by $service")
    return problems


def provisioning_problems(files: Files) -> list[str]:
    """Grafana in docker-compose.yml mounts the provisioning and the dashboards where the
    provisioning looks for them, after the Prometheus the data source points at."""
    problems: list[str] = []
    services = files.compose.get("services", {})
    grafana = services.get("grafana")
    if grafana is None:
        return ["docker-compose.yml has no grafana service"]
    image = str(grafana.get("image", ""))
    repository, _, tag = image.partition(":")
    if repository not in {"grafana/grafana", "grafana/grafana-oss"} or not re.fullmatch(
        r"\d+\.\d+\.\d+", tag
    ):
        problems.append(f"grafana image {image!r} is not Grafana OSS at a pinned version")
    mounts = _mounts(grafana)
    if mounts.get("/etc/grafana/provisioning") != "./deploy/grafana/provisioning":
        problems.append("grafana does not mount deploy/grafana/provisioning")
    for provider in files.providers.get("providers", []):
        path = provider.get("options", {}).get("path")
        if provider.get("type") != "file" or mounts.get(path) != "./deploy/grafana/dashboards":
            problems.append(f"provider {provider.get('name')!r} reads {path!r}, not the mount")
    if not files.providers.get("providers"):
        problems.append("no dashboard provider")
    home = grafana.get("environment", {}).get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
    if home is not None and _host_path(home, mounts) != DASHBOARD:
        problems.append(f"home dashboard {home!r} is not {DASHBOARD.relative_to(ROOT)}")
    if "prometheus" not in (grafana.get("depends_on") or {}):
        problems.append("grafana does not depend on prometheus")
    prometheus = services.get("prometheus")
    if prometheus is None:
        return [*problems, "docker-compose.yml has no prometheus service"]
    prometheus_mounts = set(_mounts(prometheus).values())
    for needed in ("./deploy/prometheus/prometheus.yml", "./deploy/prometheus/alerts.yml"):
        if needed not in prometheus_mounts:
            problems.append(f"prometheus does not mount {needed}")
    ports = {str(port).rsplit(":", 1)[-1] for port in prometheus.get("ports", [])}
    sources = files.datasources.get("datasources", [])
    if not any(
        source.get("type") == "prometheus"
        and re.fullmatch(rf"http://prometheus:({'|'.join(ports)})", source.get("url", ""))
        for source in sources
    ):
        problems.append(f"no provisioned data source reaches the prometheus service: {sources}")
    return problems


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path → host path of a service's bind mounts (short syntax)."""
    mounts: dict[str, str] = {}
    for volume in service.get("volumes", []):
        host, _, rest = str(volume).partition(":")
        mounts[rest.split(":")[0]] = host
    return mounts


def _host_path(container_path: str, mounts: dict[str, str]) -> Path | None:
    for target, host in mounts.items():
        if container_path.startswith(target + "/"):
            return ROOT / host / container_path.removeprefix(target + "/")
    return None


def runbook_problems(files: Files) -> list[str]:
    """The runbook's dashboard section names, for every alert, panels the dashboard has."""
    section = files.runbook.partition(RUNBOOK_SECTION)[2].split("\n#", 1)[0]
    titles = {panel.get("title") for panel in all_panels(files.dashboard)}
    listed: set[str] = set()
    problems: list[str] = []
    for row in re.finditer(r"^\| \[([^\]]+)\]\(#[\w-]+\) \| (.+) \|$", section, re.MULTILINE):
        named = [alert.strip() for alert in row.group(1).split(",")]
        panels = re.findall(r'"([^"]+)"', row.group(2))
        listed.update(named)
        if not panels:
            problems.append(f"runbook: no panel for {named}")
        problems.extend(f"runbook: {named} → {p!r} is no panel" for p in panels if p not in titles)
    alerts = {
        rule["alert"]
        for group in files.rules["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    problems.extend(f"runbook: no panel named for {alert}" for alert in sorted(alerts - listed))
    return problems


def all_problems(files: Files) -> Iterator[str]:
    known = known_series(files)
    yield from panel_problems(files.dashboard)
    yield from variable_problems(files.dashboard, known)
    yield from series_problems(files.dashboard, known)
    yield from filter_problems(files.dashboard)
    yield from provisioning_problems(files)
    yield from runbook_problems(files)


# --- the checks on the real files -------------------------------------------------------------


def test_the_code_defines_the_series_the_panels_are_about() -> None:
    # What the issue asks the dashboard to show must exist in the code, or the checks below
    # would pass over a dashboard that cannot show it.
    series = code_series()
    assert series["tradewind_messages_consumed_total"] == {"queue", "outcome"}
    assert series["tradewind_outbox_lag_seconds"] == frozenset()
    assert series["tradewind_webhook_attempts_total"] == {"outcome"}
    assert series["tradewind_stream_clients"] == frozenset()


def test_every_panel_has_an_id_a_title_a_place_and_the_datasource_variable(files: Files) -> None:
    assert panel_problems(files.dashboard) == []


def test_the_variables_choose_the_datasource_and_the_services(files: Files) -> None:
    assert variable_problems(files.dashboard, known_series(files)) == []


def test_every_series_read_exists_with_the_labels_matched(files: Files) -> None:
    assert series_problems(files.dashboard, known_series(files)) == []


def test_every_query_follows_the_service_variable(files: Files) -> None:
    assert filter_problems(files.dashboard) == []


def test_the_docker_stack_provisions_the_dashboard(files: Files) -> None:
    assert provisioning_problems(files) == []


def test_the_runbook_names_a_panel_for_every_alert(files: Files) -> None:
    assert runbook_problems(files) == []


def test_the_dashboard_shows_what_operators_need(files: Files) -> None:
    # The list, by the series that show it.
    read = {
        name
        for query in queries(files.dashboard)
        for name in parse(as_prometheus_sees_it(query.expr)).series
    }
    assert read >= {
        "tradewind_messages_consumed_total",  # throughput, handler failures
        "tradewind_http_request_seconds_bucket",  # latency percentiles
        "tradewind_http_requests_total",  # 5xx share
        "rabbitmq_detailed_queue_messages_ready",  # queue depth
        "rabbitmq_detailed_queue_messages",  # parked messages
        "tradewind_outbox_lag_seconds",
        "tradewind_circuit_breaker_state",
        "tradewind_webhook_attempts_total",
        "tradewind_stream_clients",
    }


def _promtool_rules(dashboard: dict[str, Any]) -> dict[str, Any]:
    return {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    # Named after the panel, so that promtool's message says which query.
                    {
                        "record": f"dashboard:panel_{query.panel_id}_{query.ref}",
                        "expr": as_prometheus_sees_it(query.expr),
                    }
                    for query in queries(dashboard)
                ],
            }
        ]
    }


def _check_queries(
    promtool: str, dashboard: dict[str, Any], directory: Path
) -> subprocess.CompletedProcess[str]:
    rules = directory / "dashboard_queries.yml"
    rules.write_text(yaml.safe_dump(_promtool_rules(dashboard)), encoding="utf-8")
    return run_promtool(promtool, "check", "rules", rules.name, cwd=directory)


def test_promtool_parses_every_query(promtool: str, files: Files, tmp_path: Path) -> None:
    result = _check_queries(promtool, files.dashboard, tmp_path)
    assert result.returncode == 0, explain(result)
    assert f"SUCCESS: {len(list(queries(files.dashboard)))} rules found" in result.stdout


def test_promtool_catches_a_query_that_does_not_parse(
    promtool: str, files: Files, tmp_path: Path
) -> None:
    broken = copy.deepcopy(files.dashboard)
    target = _first_target(broken, "Outbox lag")
    target["expr"] = target["expr"].replace(" (tradewind", " tradewind", 1)  # a lost parenthesis

    result = _check_queries(promtool, broken, tmp_path)

    assert result.returncode != 0, explain(result)


# --- the checks bite ------------------------------------------------------------------------


def _first_target(dashboard: dict[str, Any], title: str) -> dict[str, Any]:
    for panel in all_panels(dashboard):
        if panel.get("title") == title:
            target: dict[str, Any] = panel["targets"][0]
            return target
    raise KeyError(title)


def _panel(dashboard: dict[str, Any], title: str) -> dict[str, Any]:
    for panel in all_panels(dashboard):
        if panel.get("title") == title:
            return panel
    raise KeyError(title)


def _replace_in_query(title: str, old: str, new: str) -> Callable[[Files], None]:
    def apply(files: Files) -> None:
        target = _first_target(files.dashboard, title)
        assert old in target["expr"], (title, old)
        target["expr"] = target["expr"].replace(old, new)

    return apply


def _edit_panel(title: str, edit: Callable[[dict[str, Any]], None]) -> Callable[[Files], None]:
    return lambda files: edit(_panel(files.dashboard, title))


def _reuse_id(files: Files) -> None:
    _panel(files.dashboard, "Outbox lag")["id"] = _panel(files.dashboard, "Parked messages")["id"]


def _unmount_dashboards(files: Files) -> None:
    volumes = files.compose["services"]["grafana"]["volumes"]
    volumes[:] = [v for v in volumes if "deploy/grafana/dashboards" not in v]


def _provider_elsewhere(files: Files) -> None:
    files.providers["providers"][0]["options"]["path"] = "/var/lib/grafana/dashboards"


def _unpin_grafana(files: Files) -> None:
    files.compose["services"]["grafana"]["image"] = "grafana/grafana:latest"


def _no_depends_on(files: Files) -> None:
    del files.compose["services"]["grafana"]["depends_on"]


def _datasource_elsewhere(files: Files) -> None:
    files.datasources["datasources"][0]["url"] = "http://localhost:9090"


def _runbook_panel_renamed(files: Files) -> None:
    _panel(files.dashboard, "Outbox lag")["title"] = "Outbox age"


def _runbook_alert_dropped(files: Files) -> None:
    files.runbook = re.sub(r"^\| \[ParkedMessages\].*\n", "", files.runbook, flags=re.M)


BREAKAGES: dict[str, Callable[[Files], None]] = {
    "a panel id used twice": _reuse_id,
    "a panel without a title": _edit_panel("Queue depth", lambda p: p.update(title="")),
    "a panel without gridPos": _edit_panel("Consumers per queue", lambda p: p.pop("gridPos")),
    "a panel past the grid's edge": _edit_panel("Outbox lag", lambda p: p["gridPos"].update(x=20)),
    "a panel on a fixed data source": _edit_panel(
        "Parked messages", lambda p: p.update(datasource={"type": "prometheus", "uid": "prom"})
    ),
    "a query on a fixed data source": _edit_panel(
        "HTTP 5xx share", lambda p: p["targets"][0].update(datasource={"uid": "prometheus"})
    ),
    "a series our code does not define": _replace_in_query(
        "Outbox lag", "tradewind_outbox_lag_seconds", "tradewind_outbox_lag_secs"
    ),
    "a Counter read without its _total": _replace_in_query(
        "Webhook delivery attempts per second, by outcome",
        "tradewind_webhook_attempts_total",
        "tradewind_webhook_attempts",
    ),
    "a Histogram read without its _bucket": _replace_in_query(
        "HTTP latency p50 / p95 / p99",
        "tradewind_http_request_seconds_bucket",
        "tradewind_http_request_seconds",
    ),
    "a misspelt label in a matcher": _replace_in_query(
        "Messages handled per second, by queue", 'outcome="acked"', 'result="acked"'
    ),
    "grouping by an unbounded label": _replace_in_query(
        "HTTP requests per second", "sum by (job)", "sum by (job, route)"
    ),
    "a quantile over buckets not grouped by le": _replace_in_query(
        "Message handler time p95, by queue", "queue, le)", "queue)"
    ),
    "a query the service variable does not narrow": _replace_in_query(
        "Outbox lag", '{job=~"$service"}', ""
    ),
    "an undefined variable": _replace_in_query("Outbox lag", "$service", "$services"),
    "a service variable over a series that does not exist": lambda files: variables(
        files.dashboard
    )["service"].update(query="label_values(tradewind_requests_total, job)"),
    "the dashboards not mounted": _unmount_dashboards,
    "the provider looking elsewhere": _provider_elsewhere,
    "an unpinned Grafana": _unpin_grafana,
    "Grafana not waiting for Prometheus": _no_depends_on,
    "a data source that is not the stack's Prometheus": _datasource_elsewhere,
    "a runbook panel the dashboard does not have": _runbook_panel_renamed,
    "an alert the runbook gives no panel": _runbook_alert_dropped,
}


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_each_check_catches_a_broken_copy(files: Files, breakage: str) -> None:
    broken = copy.deepcopy(files)
    BREAKAGES[breakage](broken)
    assert list(all_problems(broken)), f"{breakage}: not caught"


def test_a_metric_renamed_in_the_code_breaks_the_dashboard(files: Files) -> None:
    # The series our code would define after renaming the WebSocket gauge, the dashboard left as
    # it is: its panel now reads a series nothing exposes.
    known = dict(known_series(files))
    known["tradewind_stream_clients_connected"] = known.pop("tradewind_stream_clients")

    problems = series_problems(files.dashboard, known)

    assert problems == [
        "panel 'WebSocket clients connected' A: tradewind_stream_clients is no series of our "
        "code, of the RabbitMQ families the scrape asks for, of a recording rule, or of "
        "Prometheus"
    ]
