"""deploy/prometheus: the configuration and the alerting rules are valid, tested, and only read
series that exist.

promtool (Debian package `prometheus`; .ci/run installs it) checks the configuration, which
loads alerts.yml from next to it, checks the rules, and runs their unit tests (alerts_test.yml).
Then what promtool cannot know: every series an expression reads is one our code defines (by
its name in a prometheus_client constructor, with the suffixes the client adds), one of the
RabbitMQ plugin families the scrape configuration asks for, or Prometheus's `up`; every label a
selector matches on is one that series has; alerts aggregate only by labels with a small, known
set of values; each alert has a severity, its annotations, a runbook section in
docs/operations.md, and unit tests that fire it and that do not. Each check returns its problems
as text; the last tests break a copy in one way per check, and break a rule under promtool's own
tests, and show that each is caught.
"""

from __future__ import annotations

import copy
import re
import shutil
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

PROMETHEUS = ROOT / "deploy" / "prometheus"
CONFIG = PROMETHEUS / "prometheus.yml"
RULES = PROMETHEUS / "alerts.yml"
RULE_TESTS = PROMETHEUS / "alerts_test.yml"
RUNBOOK = ROOT / "docs" / "operations.md"

SEVERITIES = {"critical", "warning"}
ANNOTATIONS = {"summary", "description", "runbook_url"}
# The labels an alert may aggregate by (and so carry): each has a small, known set of values.
BOUNDED_LABELS = {"job", "instance", "service", "dependency", "breaker", "vhost", "queue"}

# --- promtool ---------------------------------------------------------------------------------


def test_promtool_check_config(promtool: str) -> None:
    # rule_files in prometheus.yml are relative to it; promtool resolves them the same way, so
    # this also checks the rules as the configuration loads them. The count matters: a pattern
    # that matches no file is no error to promtool, and Prometheus would then run without rules.
    result = run_promtool(promtool, "check", "config", str(CONFIG.relative_to(ROOT)))
    assert result.returncode == 0, explain(result)
    assert "1 rule files found" in result.stdout, explain(result)


def test_promtool_check_rules(promtool: str) -> None:
    result = run_promtool(promtool, "check", "rules", str(RULES.relative_to(ROOT)))
    assert result.returncode == 0, explain(result)


def test_promtool_test_rules(promtool: str) -> None:
    result = run_promtool(promtool, "test", "rules", str(RULE_TESTS.relative_to(ROOT)))
    assert result.returncode == 0, explain(result)


# --- the rules, the configuration and the code, as data ------------------------------------


@dataclass(frozen=True)
class Rule:
    name: str  # the alert's or the recorded series' name
    is_alert: bool
    expr: str
    labels: dict[str, str]
    annotations: dict[str, str]


def rules_of(document: dict[str, Any]) -> list[Rule]:
    return [
        Rule(
            name=rule.get("alert") or rule["record"],
            is_alert="alert" in rule,
            expr=str(rule["expr"]),
            labels=dict(rule.get("labels") or {}),
            annotations=dict(rule.get("annotations") or {}),
        )
        for group in document["groups"]
        for rule in group["rules"]
    ]


# --- checks: each returns its problems as text -----------------------------------------------


def series_problems(
    rules: list[Rule], code: dict[str, frozenset[str]], rabbitmq: dict[str, frozenset[str]]
) -> list[str]:
    """Every series read exists, and every label matched on is one it has."""
    recorded = {rule.name for rule in rules if not rule.is_alert}
    known = {**code, **rabbitmq, **PROMETHEUS_SERIES}
    problems: list[str] = []
    for rule in rules:
        expression = parse(rule.expr)
        for name in expression.series:
            if ":" in name:
                if name not in recorded:
                    problems.append(f"{rule.name}: {name} is recorded by no rule")
            elif name not in known:
                problems.append(
                    f"{rule.name}: {name} is no series of our code, of the RabbitMQ families "
                    "the scrape asks for, or of Prometheus"
                )
        for name, label in expression.matched_labels:
            labels = known.get(name)
            if labels is not None and label not in labels | TARGET_LABELS:
                problems.append(f"{rule.name}: {name} has no label {label!r}")
    return problems


def label_problems(rules: list[Rule]) -> list[str]:
    """Rules aggregate only by labels with a small, known set of values."""
    return [
        f"{rule.name}: groups by {label!r}, not one of {sorted(BOUNDED_LABELS)}"
        for rule in rules
        for label in parse(rule.expr).grouping_labels
        if label not in BOUNDED_LABELS
    ]


def runbook_anchors(markdown: str) -> set[str]:
    """GitHub's anchors of the headings: lower case, punctuation dropped, spaces to hyphens."""
    anchors = set()
    for line in markdown.splitlines():
        heading = re.match(r"#{1,6}\s+(.*)", line)
        if heading:
            slug = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower())
            anchors.add(slug.replace(" ", "-"))
    return anchors


def alert_problems(rules: list[Rule], anchors: set[str]) -> list[str]:
    """Each alert has a severity, its annotations, and a runbook section that exists."""
    problems: list[str] = []
    for rule in rules:
        if not rule.is_alert:
            continue
        if rule.labels.get("severity") not in SEVERITIES:
            problems.append(f"{rule.name}: severity {rule.labels.get('severity')!r}")
        missing = ANNOTATIONS - rule.annotations.keys()
        if missing:
            problems.append(f"{rule.name}: no annotation {sorted(missing)}")
        runbook = rule.annotations.get("runbook_url", "")
        page, _, anchor = runbook.partition("#")
        if page != "docs/operations.md" or anchor not in anchors:
            problems.append(f"{rule.name}: runbook_url {runbook!r} is no section of {page}")
    return problems


def coverage_problems(rules: list[Rule], tests: dict[str, Any]) -> list[str]:
    """Each alert is tested both where it must fire and where it must not."""
    fired: set[str] = set()
    quiet: set[str] = set()
    for test in tests["tests"]:
        for case in test.get("alert_rule_test") or []:
            (fired if case.get("exp_alerts") else quiet).add(case["alertname"])
    problems: list[str] = []
    for rule in rules:
        if rule.is_alert and rule.name not in fired:
            problems.append(f"{rule.name}: no test where it fires")
        if rule.is_alert and rule.name not in quiet:
            problems.append(f"{rule.name}: no test where it must not fire")
    return problems


def scrape_problems(config: dict[str, Any], services: list[str]) -> list[str]:
    """Every service is scraped, and the rules file is loaded from next to the configuration."""
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    problems = [f"no scrape job for {service}" for service in services if service not in jobs]
    if config.get("rule_files") != [RULES.name]:
        problems.append(f"rule_files is {config.get('rule_files')!r}, not [{RULES.name!r}]")
    return problems


# --- the checks on the real files -------------------------------------------------------------


@dataclass(frozen=True)
class Files:
    rules: dict[str, Any]
    tests: dict[str, Any]
    config: dict[str, Any]
    runbook: str


@pytest.fixture(scope="module")
def files() -> Files:
    return Files(
        rules=load_yaml(RULES),
        tests=load_yaml(RULE_TESTS),
        config=load_yaml(CONFIG),
        runbook=RUNBOOK.read_text(encoding="utf-8"),
    )


def services() -> list[str]:
    return sorted(path.name for path in (ROOT / "services").iterdir() if (path / "src").is_dir())


def all_problems(files: Files) -> Iterator[str]:
    rules = rules_of(files.rules)
    yield from series_problems(rules, code_series(), rabbitmq_series(files.config))
    yield from label_problems(rules)
    yield from alert_problems(rules, runbook_anchors(files.runbook))
    yield from coverage_problems(rules, files.tests)
    yield from scrape_problems(files.config, services())


def test_the_code_defines_the_series_this_test_looks_for() -> None:
    # The reader of the code must find what is there, or every other check is vacuous.
    series = code_series()
    assert series["tradewind_http_requests_total"] == {"method", "route", "status"}
    assert series["tradewind_http_request_seconds_bucket"] == {"method", "route", "le"}
    assert series["tradewind_outbox_lag_seconds"] == frozenset()
    assert series["tradewind_circuit_breaker_state"] == {"breaker"}
    assert series["tradewind_webhook_endpoints_disabled_total"] == frozenset()


def test_the_parser_reads_what_a_rule_reads() -> None:
    expression = parse(
        'sum by (job) (rate(tradewind_http_requests_total{route!~"/a{b}|(c)",status=~"5.."}[5m]))'
        " / on (job) job:tradewind_http_requests:rate5m > (14.4 * 0.01) and up == 0"
    )
    assert expression.series == [
        "tradewind_http_requests_total",
        "job:tradewind_http_requests:rate5m",
        "up",
    ]
    assert expression.matched_labels == [
        ("tradewind_http_requests_total", "route"),
        ("tradewind_http_requests_total", "status"),
    ]
    assert expression.grouping_labels == ["job", "job"]


def test_every_series_read_exists_with_the_labels_matched(files: Files) -> None:
    rules = rules_of(files.rules)
    assert series_problems(rules, code_series(), rabbitmq_series(files.config)) == []


def test_alerts_group_by_bounded_labels_only(files: Files) -> None:
    assert label_problems(rules_of(files.rules)) == []


def test_every_alert_has_severity_annotations_and_a_runbook_section(files: Files) -> None:
    assert alert_problems(rules_of(files.rules), runbook_anchors(files.runbook)) == []


def test_every_alert_is_tested_firing_and_quiet(files: Files) -> None:
    assert coverage_problems(rules_of(files.rules), files.tests) == []


def test_every_service_is_scraped_and_the_rules_are_loaded(files: Files) -> None:
    assert scrape_problems(files.config, services()) == []


# --- the checks bite ------------------------------------------------------------------------


def _rule(document: dict[str, Any], name: str) -> dict[str, Any]:
    for group in document["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == name or rule.get("record") == name:
                found: dict[str, Any] = rule
                return found
    raise KeyError(name)


def _edit_rule(name: str, edit: Callable[[dict[str, Any]], None]) -> Callable[[Files], None]:
    def apply(files: Files) -> None:
        edit(_rule(files.rules, name))

    return apply


def _replace_in_expr(name: str, old: str, new: str) -> Callable[[Files], None]:
    def edit(rule: dict[str, Any]) -> None:
        assert old in rule["expr"], (name, old)
        rule["expr"] = rule["expr"].replace(old, new)

    return _edit_rule(name, edit)


def _drop_family(files: Files) -> None:
    for job in files.config["scrape_configs"]:
        families = (job.get("params") or {}).get("family")
        if families:
            families.remove("queue_consumer_count")


def _drop_quiet_test(files: Files) -> None:
    for test in files.tests["tests"]:
        test["alert_rule_test"] = [
            case
            for case in test.get("alert_rule_test") or []
            if case["alertname"] != "OutboxLag" or case.get("exp_alerts")
        ]


def _drop_job(files: Files) -> None:
    files.config["scrape_configs"] = [
        job for job in files.config["scrape_configs"] if job["job_name"] != "webhooks"
    ]


BREAKAGES: dict[str, Callable[[Files], None]] = {
    "a series our code does not define": _replace_in_expr(
        "OutboxLag", "tradewind_outbox_lag_seconds", "tradewind_outbox_lag_secs"
    ),
    "a Counter read without its _total": _replace_in_expr(
        "WebhookEndpointDisabled",
        "tradewind_webhook_endpoints_disabled_total",
        "tradewind_webhook_endpoints_disabled",
    ),
    "a misspelt label in a matcher": _replace_in_expr(
        "job:tradewind_http_errors:rate5m", "status=~", "stauts=~"
    ),
    "a recorded series no rule records": _replace_in_expr(
        "HTTPErrorRate", "job:tradewind_http_errors:rate5m", "job:tradewind_http_5xx:rate5m"
    ),
    "a RabbitMQ family the scrape does not ask for": _drop_family,
    "grouping by an unbounded label": _replace_in_expr(
        "job:tradewind_http_requests:rate5m", "sum by (job)", "sum by (job, route)"
    ),
    "an alert without severity": _edit_rule("ParkedMessages", lambda r: r["labels"].clear()),
    "a runbook section that does not exist": _edit_rule(
        "ConsumerMissing",
        lambda r: r["annotations"].update(runbook_url="docs/operations.md#no-such-section"),
    ),
    "an alert never tested where it must stay quiet": _drop_quiet_test,
    "a service not scraped": _drop_job,
}


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_each_check_catches_a_broken_copy(files: Files, breakage: str) -> None:
    broken = copy.deepcopy(files)
    BREAKAGES[breakage](broken)
    assert list(all_problems(broken)), f"{breakage}: not caught"


def test_promtool_unit_tests_catch_a_broken_rule(promtool: str, tmp_path: Path) -> None:
    # OutboxLag's tests against a copy whose threshold is ten times higher: the case where it
    # must fire now fails. (Only those tests: the whole file takes seconds more.)
    rules = load_yaml(RULES)
    outbox_lag = _rule(rules, "OutboxLag")
    assert outbox_lag["expr"].endswith("> 60")
    outbox_lag["expr"] = outbox_lag["expr"].replace("> 60", "> 600")
    (tmp_path / RULES.name).write_text(yaml.safe_dump(rules), encoding="utf-8")
    tests = load_yaml(RULE_TESTS)
    tests["tests"] = [
        test
        for test in tests["tests"]
        if any(case["alertname"] == "OutboxLag" for case in test.get("alert_rule_test") or [])
    ]
    assert tests["tests"]
    (tmp_path / RULE_TESTS.name).write_text(yaml.safe_dump(tests), encoding="utf-8")

    result = run_promtool(promtool, "test", "rules", RULE_TESTS.name, cwd=tmp_path)

    assert result.returncode != 0, explain(result)
    assert "alertname: OutboxLag" in result.stdout + result.stderr, explain(result)


def test_promtool_check_config_catches_a_missing_rules_file(promtool: str, tmp_path: Path) -> None:
    # Only the configuration is copied: the rules file it names is not next to it.
    shutil.copy(CONFIG, tmp_path / CONFIG.name)

    result = run_promtool(promtool, "check", "config", CONFIG.name, cwd=tmp_path)

    assert result.returncode != 0, explain(result)
