"""Run a broker CLI (rabbitmqctl, rabbitmq-diagnostics) with a deadline that holds.

These CLIs start an Erlang node through a wrapper script (and ``su``): ``subprocess.run``'s
timeout kills only the wrapper and leaves the node behind, holding one of the few distribution
ports every later call needs. Each call gets a session of its own, killed whole on timeout.
"""

from __future__ import annotations

import os
import signal
import subprocess


def run_cli(
    args: list[str], *, timeout: float = 60, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """``args`` run to completion within ``timeout`` s, or killed with all they started;
    ``check``: a non-zero exit raises ``CalledProcessError``."""
    process = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    completed = subprocess.CompletedProcess(args, process.returncode, stdout, stderr)
    if check:
        completed.check_returncode()
    return completed
