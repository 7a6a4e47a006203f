"""The import rules of pyproject.toml ([tool.importlinter], run by `make lint`) hold, and bite.

The rules are checked on the real tree, then on a tree where one service's domain imports a
database driver and that service imports another: both contracts must break, by name.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
PURE_DOMAIN = "Domain code is pure: no web framework, database, broker, cache or HTTP client"
INDEPENDENT = "Services never import each other; what they share lives in tradewind.common"


def lint_imports(cwd: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(pythonpath)} if pythonpath else dict(os.environ)
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_code_keeps_every_import_rule() -> None:
    checked = lint_imports(ROOT)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "0 broken" in checked.stdout


def test_a_domain_importing_a_driver_and_a_service_importing_another_break_the_rules(
    tmp_path: Path,
) -> None:
    # The project's own rules, over a tree whose orders service comes first on the path.
    write_project_rules(tmp_path)
    orders = tmp_path / "tradewind" / "orders"
    (orders / "domain").mkdir(parents=True)
    (orders / "__init__.py").write_text("from tradewind.orders import handlers\n")
    (orders / "handlers.py").write_text("import tradewind.webhooks.domain.delivery_rules\n")
    (orders / "domain" / "__init__.py").write_text("import asyncpg\n")

    checked = lint_imports(tmp_path, pythonpath=tmp_path)

    assert checked.returncode != 0
    assert f"{PURE_DOMAIN} BROKEN" in checked.stdout
    assert "tradewind.orders.domain -> asyncpg" in checked.stdout
    assert f"{INDEPENDENT} BROKEN" in checked.stdout
    assert "tradewind.orders.handlers -> tradewind.webhooks.domain.delivery_rules" in checked.stdout


def write_project_rules(directory: Path) -> None:
    """The project's import rules as ``directory``'s pyproject.toml, to check a tree a test
    builds there against them."""
    rules = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contracts = "\n".join(_contract_toml(contract) for contract in rules["contracts"])
    (directory / "pyproject.toml").write_text(
        "[tool.importlinter]\n"
        f"root_packages = {_toml_list(rules['root_packages'])}\n"
        "include_external_packages = true\n" + contracts
    )


def _contract_toml(contract: dict[str, object]) -> str:
    lines = ["", "[[tool.importlinter.contracts]]"]
    for name, value in contract.items():
        if isinstance(value, list):
            lines.append(f"{name} = {_toml_list(value)}")
        else:
            lines.append(f'{name} = "{value}"')
    return "\n".join(lines) + "\n"


def _toml_list(values: list[str]) -> str:
    return "[" + ", ".join(f'"{value}"' for value in values) + "]"
