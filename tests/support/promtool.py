"""promtool (Debian package `prometheus`; .ci/run installs it): found on PATH and run with a
deadline, its output kept for the assertion message."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from support.prometheus_series import ROOT

PROMTOOL_TIMEOUT_S = 100  # the three-day SLO test of deploy/prometheus takes about 12 s


def find_promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool is not on PATH. It comes with the Debian package `prometheus`: "
            "apt-get install -y prometheus (.ci/run installs it before make test; stop the "
            "daemon the package may start with `pkill -x prometheus`).",
            pytrace=False,
        )
    return path


def run_promtool(promtool: str, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=PROMTOOL_TIMEOUT_S,
        check=False,
    )


def explain(result: subprocess.CompletedProcess[str]) -> str:
    command = " ".join(
        Path(result.args[0]).name if i == 0 else a for i, a in enumerate(result.args)
    )
    return (
        f"`{command}` exited with {result.returncode}\n"
        f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
    )
