"""The series Prometheus can read from Tradewind, and what a PromQL expression reads of them.

Shared by the checks of deploy/prometheus (alert rules) and deploy/grafana (the dashboard): a
series an expression reads must be one our code defines (by its name in a prometheus_client
constructor, with the suffixes the client adds), one of the RabbitMQ plugin families the scrape
configuration asks for, a series a recording rule records, or Prometheus's own `up`.
"""

from __future__ import annotations

import ast
import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CODE = (ROOT / "libs", ROOT / "services")
# Added by the scrape to every series.
TARGET_LABELS = frozenset({"job", "instance"})

# RabbitMQ's /metrics/detailed families and the series each gives, all labelled {vhost, queue}
# (rabbitmq_prometheus, prometheus_rabbitmq_core_metrics_collector.erl; the endpoint prefixes
# rabbitmq_detailed_). A rule may read them only if the scrape asks for the family.
RABBITMQ_DETAILED_ENDPOINT = "/metrics/detailed"
RABBITMQ_DETAILED_FAMILIES = {
    "queue_coarse_metrics": (
        "rabbitmq_detailed_queue_messages_ready",
        "rabbitmq_detailed_queue_messages_unacked",
        "rabbitmq_detailed_queue_messages",
        "rabbitmq_detailed_queue_process_reductions_total",
    ),
    "queue_consumer_count": ("rabbitmq_detailed_queue_consumers",),
}
RABBITMQ_QUEUE_LABELS = frozenset({"vhost", "queue"})
# Series Prometheus makes itself, per target.
PROMETHEUS_SERIES = {"up": frozenset[str]()}

_METRIC_KINDS = {"Counter", "Gauge", "Histogram", "Summary"}
_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_NUMBER = re.compile(r"(?<![\w:])\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}")
_MATCHER = re.compile(r"\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
_IDENTIFIER = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}
_AGGREGATIONS = {
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
}


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@functools.cache
def code_series() -> dict[str, frozenset[str]]:
    """Every series name our code exposes, with its labels: prometheus_client constructors whose
    first argument is a literal name, found in the source (not imported: no registry state)."""
    series: dict[str, frozenset[str]] = {}
    for root in CODE:
        for path in sorted(root.rglob("*.py")):
            source = path.read_text(encoding="utf-8")
            if "prometheus_client" not in source:  # collections.Counter("...") is no metric
                continue
            for node in ast.walk(ast.parse(source)):
                if not isinstance(node, ast.Call):
                    continue
                kind = _called_name(node.func)
                if kind not in _METRIC_KINDS or not node.args:
                    continue
                name = node.args[0]
                if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
                    continue
                labels = frozenset(_label_names(node))
                series.update(exposed_series(kind, name.value, labels))
    return series


def _called_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _label_names(call: ast.Call) -> list[str]:
    # labelnames is the third positional argument, or the keyword.
    node = call.args[2] if len(call.args) > 2 else None
    for keyword in call.keywords:
        if keyword.arg == "labelnames":
            node = keyword.value
    if not isinstance(node, ast.List | ast.Tuple):
        return []
    return [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]


def exposed_series(kind: str, name: str, labels: frozenset[str]) -> dict[str, frozenset[str]]:
    """The names prometheus_client exposes for one metric (the `_created` series left out)."""
    if kind == "Counter":
        return {name.removesuffix("_total") + "_total": labels}
    if kind == "Histogram":
        return {
            f"{name}_bucket": labels | {"le"},
            f"{name}_count": labels,
            f"{name}_sum": labels,
        }
    if kind == "Summary":
        return {name: labels | {"quantile"}, f"{name}_count": labels, f"{name}_sum": labels}
    return {name: labels}


def rabbitmq_series(config: dict[str, Any]) -> dict[str, frozenset[str]]:
    """The RabbitMQ per-queue series the scrape configuration asks for."""
    series: dict[str, frozenset[str]] = {}
    for job in config["scrape_configs"]:
        if job.get("metrics_path") != RABBITMQ_DETAILED_ENDPOINT:
            continue
        for family in (job.get("params") or {}).get("family", []):
            for name in RABBITMQ_DETAILED_FAMILIES.get(family, ()):
                series[name] = RABBITMQ_QUEUE_LABELS
    return series


@dataclass(frozen=True)
class Expression:
    series: list[str]  # names read, recorded series included
    matched_labels: list[tuple[str, str]]  # (series, label) of each selector's matchers
    grouping_labels: list[str]  # labels of by / without / on / ignoring / group_*


def parse(expr: str) -> Expression:
    """What a PromQL expression reads: enough of the language for our rules (selectors,
    functions, aggregations with grouping, binary operators), not a full parser."""
    text = _STRING.sub('""', expr)  # a regex or a route may hold braces or parentheses
    grouping_labels = [
        label.strip()
        for match in _GROUPING.finditer(text)
        for label in match.group(2).split(",")
        if label.strip()
    ]
    text = _GROUPING.sub(" ", text)
    matched_labels = [
        (match.group(1), matcher.group(1))
        for match in _SELECTOR.finditer(text)
        for part in match.group(2).split(",")
        if (matcher := _MATCHER.match(part)) is not None
    ]
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range and subquery durations
    text = _NUMBER.sub(" ", text)
    series = [
        match.group(0)
        for match in _IDENTIFIER.finditer(text)
        if match.group(0) not in _KEYWORDS | _AGGREGATIONS
        and not re.match(r"\s*\(", text[match.end() :])  # a function call
    ]
    return Expression(series, matched_labels, grouping_labels)
