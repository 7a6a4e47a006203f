"""Run a broker CLI (rabbitmqctl, rabbitmq-diagnostics) with a deadline that holds.

These CLIs start an Erlang node through a wrapper script and ``su``, which puts the node in a
session of its own: ``subprocess.run``'s timeout kills only the wrapper, and the node lives on,
holding one of the CLI's few distribution ports and the output pipes (so reading them after the
timeout would wait forever). On timeout every descendant is killed, found through /proc.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path


def run_cli(
    args: list[str], *, timeout: float = 60, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """``args`` run to completion within ``timeout`` s, or killed with all they started;
    ``check``: a non-zero exit raises ``CalledProcessError``."""
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        for pid in [process.pid, *_descendants(process.pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process.wait(timeout=10)
        raise
    completed = subprocess.CompletedProcess(args, process.returncode, stdout, stderr)
    if check:
        completed.check_returncode()
    return completed


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # The fields after the command name, which is in parentheses and may hold spaces.
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: list[int] = []
    pending = [root]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found
