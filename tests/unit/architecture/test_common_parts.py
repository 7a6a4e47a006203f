"""libs/common is split by part into extras (libs/common/pyproject.toml), and each service installs
only the extras it uses. These tests hold the split to the code:

- every package a service's code imports, directly or through tradewind.common, is installed by
  its own dependencies as uv.lock resolves them (so the service runs installed on its own);
- the contracts alone, and the health service, install no database, broker or web framework
  they do not use;
- the import rules that keep each part to its extra's packages bite.
"""

from __future__ import annotations

import re
import shutil
import sys
import tomllib
from collections.abc import Iterable
from importlib.metadata import packages_distributions
from pathlib import Path

import grimp
import pytest

from unit.architecture.test_import_rules import lint_imports, write_project_rules

ROOT = Path(__file__).resolve().parents[3]
COMMON_SOURCE = ROOT / "libs" / "common" / "src" / "tradewind" / "common"
SERVICES = {
    "tradewind-gateway": "tradewind.gateway",
    "tradewind-health": "tradewind.health",
    "tradewind-market-data": "tradewind.market_data",
    "tradewind-orders": "tradewind.orders",
    "tradewind-webhooks": "tradewind.webhooks",
}
CONTRACTS_RULE = "Contracts and envelope are plain data: no broker, database, web, telemetry"
BROKER_RULE = "The broker part imports no database, web framework or Redis"


def _normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _locked_packages() -> dict[str, dict[str, object]]:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    return {_normalised(package["name"]): package for package in lock["package"]}


def installed_with(name: str, extras: Iterable[str] = ()) -> set[str]:
    """Every distribution installing ``name`` with ``extras`` brings, as uv.lock resolves it
    (platform markers ignored: a superset, which is what "not installed" assertions need)."""
    packages = _locked_packages()
    seen: set[tuple[str, str | None]] = set()
    installed: set[str] = set()
    pending: list[tuple[str, str | None]] = [(_normalised(name), None)]
    pending += [(_normalised(name), extra) for extra in extras]
    while pending:
        current, extra = pending.pop()
        if (current, extra) in seen:
            continue
        seen.add((current, extra))
        installed.add(current)
        package = packages[current]
        if extra is None:
            dependencies = package.get("dependencies", [])
        else:
            dependencies = package.get("optional-dependencies", {})[extra]  # type: ignore[index]
        for dependency in dependencies:  # type: ignore[attr-defined]
            dependency_name = _normalised(dependency["name"])
            pending.append((dependency_name, None))
            pending += [(dependency_name, e) for e in dependency.get("extra", [])]
    return installed


def imported_modules(package: str) -> dict[str, set[str]]:
    """The top-level modules ``package`` imports from outside, directly or through
    tradewind.common, each with the distributions that provide it."""
    graph = grimp.build_graph(
        "tradewind.common", package, include_external_packages=True, cache_dir=None
    )
    modules = {m.split(".")[0] for m in graph.find_upstream_modules(package, as_package=True)}
    providers = packages_distributions()
    return {
        module: {_normalised(d) for d in providers.get(module, [module])}
        for module in modules - set(sys.stdlib_module_names) - {"tradewind", "__future__"}
    }


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_a_service_installs_every_package_its_code_imports(service: str) -> None:
    installed = installed_with(service)
    missing = {
        module
        for module, providers in imported_modules(SERVICES[service]).items()
        if not providers & installed  # a namespace such as "opentelemetry": one is enough
    }
    assert not missing, f"{service} imports {sorted(missing)} but does not install them"


def test_the_contracts_alone_install_no_broker_database_or_web_framework() -> None:
    installed = installed_with("tradewind-common")
    assert "pydantic" in installed
    heavy = {"aio-pika", "alembic", "asyncpg", "fastapi", "redis", "sqlalchemy", "uvicorn"}
    assert installed & heavy == set()


def test_the_broker_part_installs_no_database_or_web_framework() -> None:
    installed = installed_with("tradewind-common", ["broker"])
    assert "aio-pika" in installed
    assert installed & {"alembic", "asyncpg", "fastapi", "redis", "sqlalchemy"} == set()


def test_the_health_service_installs_no_sqlalchemy_or_alembic() -> None:
    installed = installed_with("tradewind-health")
    assert {"asyncpg", "redis", "aio-pika", "fastapi"} <= installed  # what it probes and serves
    assert installed & {"sqlalchemy", "alembic"} == set()


def test_contracts_or_the_broker_importing_a_database_break_their_rules(tmp_path: Path) -> None:
    # The project's rules, over a copy of the shared library in which the contracts import
    # SQLAlchemy and the broker's topology imports asyncpg.
    write_project_rules(tmp_path)
    common = tmp_path / "tradewind" / "common"
    shutil.copytree(COMMON_SOURCE, common, ignore=shutil.ignore_patterns("__pycache__"))
    with (common / "contracts" / "types.py").open("a") as types:
        types.write("\nimport sqlalchemy\n")
    with (common / "broker" / "topology.py").open("a") as topology:
        topology.write("\nimport asyncpg\n")

    checked = lint_imports(tmp_path, pythonpath=tmp_path)

    assert checked.returncode != 0
    assert f"{CONTRACTS_RULE} BROKEN" in checked.stdout
    assert "tradewind.common.contracts.types -> sqlalchemy" in checked.stdout
    assert f"{BROKER_RULE} BROKEN" in checked.stdout
    assert "tradewind.common.broker.topology -> asyncpg" in checked.stdout
