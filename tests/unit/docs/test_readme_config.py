"""The README's configuration table lists every setting, as the code defines it today."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_readme_configuration_table_is_current() -> None:
    spec = importlib.util.spec_from_file_location(
        "config_table", ROOT / "deploy" / "local" / "config_table.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    readme = (ROOT / "README.md").read_text()
    assert module.table() in readme, (
        "README.md's configuration table is stale: regenerate it with "
        "`uv run python deploy/local/config_table.py --write`"
    )
