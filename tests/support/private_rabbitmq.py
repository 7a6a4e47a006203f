"""A private RabbitMQ node a test may stop and start again, unlike the run's shared broker.

Its own node name, AMQP and distribution ports, Mnesia and log directories, configuration (the
machine's /etc/rabbitmq names the shared node and its port), no plugins (the management plugin
would want the shared node's port 15672) and its own Erlang cookie, all in a temporary directory
removed at the end. It registers its name with the machine's epmd, as every node does.

The node runs from RabbitMQ's own scripts (``/usr/lib/rabbitmq/bin``), not the Debian wrappers
in /usr/sbin, which ``su`` to the ``rabbitmq`` user and write the shared node's startup logs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from support.services import free_port

log = logging.getLogger(__name__)

SCRIPTS = Path("/usr/lib/rabbitmq/bin")
# guest may connect (from loopback, as the shared broker allows); no listener here: the node's
# port comes from RABBITMQ_NODE_PORT.
CONFIG = "loopback_users = none\n"


def node_name(run_id: str) -> str:
    return f"tw-private-{run_id}@localhost"


def node_environment(node: str, directory: Path, port: int, dist_port: int) -> dict[str, str]:
    """What makes a node private: every place the node would otherwise share with the machine's
    node (names, ports, files) points at its own."""
    return {
        "HOME": str(directory),  # where the node and its CLI find the Erlang cookie
        "RABBITMQ_NODENAME": node,
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(dist_port),
        "RABBITMQ_MNESIA_BASE": str(directory / "mnesia"),
        "RABBITMQ_LOG_BASE": str(directory / "log"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(directory / "enabled_plugins"),
        "RABBITMQ_CONFIG_FILE": str(directory / "rabbitmq.conf"),
        "RABBITMQ_CONF_ENV_FILE": str(directory / "rabbitmq-env.conf"),
        "RABBITMQ_PID_FILE": str(directory / "rabbitmq.pid"),
        # The distribution listens on loopback only, as the shared node's does.
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
    }


class PrivateRabbitMQ:
    """One node in ``directory``: ``prepare`` once, then ``start`` and ``stop`` as often as a
    test likes (durable queues and persistent messages survive a stop, as on a real restart)."""

    def __init__(self, directory: Path, node: str, port: int, dist_port: int) -> None:
        self.directory = directory
        self.node = node
        self.port = port
        self.dist_port = dist_port
        self.cookie = secrets.token_hex(16)
        self.started_pid: int | None = None

    @property
    def name(self) -> str:
        return "rabbitmq"

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    @property
    def environment(self) -> dict[str, str]:
        return node_environment(self.node, self.directory, self.port, self.dist_port)

    @property
    def pid_file(self) -> Path:
        return self.directory / "rabbitmq.pid"

    @property
    def cli_options(self) -> tuple[str, ...]:
        """What a ``rabbitmqctl`` or ``rabbitmq-diagnostics`` call needs to reach this node,
        through the usual wrapper too (which runs the CLI as ``rabbitmq``, with another cookie)."""
        return ("-n", self.node, "--erlang-cookie", self.cookie)

    def prepare(self) -> PrivateRabbitMQ:
        (self.directory / "mnesia").mkdir()
        (self.directory / "log").mkdir()
        (self.directory / "rabbitmq.conf").write_text(CONFIG)
        (self.directory / "enabled_plugins").write_text("[].\n")
        (self.directory / "rabbitmq-env.conf").write_text("")
        cookie = self.directory / ".erlang.cookie"
        cookie.write_text(self.cookie)
        cookie.chmod(0o400)  # Erlang refuses a cookie others can read
        return self

    def start(self) -> PrivateRabbitMQ:
        """Start the node detached; return once RabbitMQ runs on it (``rabbitmqctl wait``)."""
        self.pid_file.unlink(missing_ok=True)
        self._run("rabbitmq-server", "-detached")
        try:
            self._run("rabbitmqctl", "-n", self.node, "wait", "--timeout", "90", str(self.pid_file))
        finally:
            self.started_pid = self._pid() or self.started_pid
        return self

    def stop(self) -> None:
        """Stop RabbitMQ and its Erlang node; return once the node's process has exited."""
        if self._pid() is None:
            return
        self._run("rabbitmqctl", "-n", self.node, "stop", str(self.pid_file))

    def kill(self) -> None:
        """The node this helper started, by its pid, if it still runs (teardown)."""
        pid = self._pid() or self.started_pid
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def tail(self, lines: int = 30) -> str:
        logs = sorted((self.directory / "log").glob("*.log"))
        if not logs:
            return ""
        return "\n".join(logs[0].read_text(errors="replace").splitlines()[-lines:])

    def _pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        return pid

    def _run(self, script: str, *args: str) -> None:
        done = subprocess.run(
            [str(SCRIPTS / script), *args],
            env={**os.environ, **self.environment},
            cwd=self.directory,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{script} {' '.join(args)} failed ({done.returncode}): "
                f"{done.stdout}{done.stderr}\n{self.tail()}"
            )


@contextlib.contextmanager
def private_rabbitmq() -> Iterator[PrivateRabbitMQ]:
    """A running private node; stopped and deleted at the end, whatever happened."""
    if not (SCRIPTS / "rabbitmq-server").exists():
        raise RuntimeError(f"a private RabbitMQ needs the server's scripts in {SCRIPTS}")
    directory = Path(tempfile.mkdtemp(prefix="tw-private-rabbitmq-"))
    node = PrivateRabbitMQ(directory, node_name(uuid.uuid4().hex[:8]), free_port(), free_port())
    try:
        node.prepare().start()
        log.info("private RabbitMQ %s on port %d in %s", node.node, node.port, directory)
        yield node
    finally:
        try:
            node.stop()
        except (RuntimeError, subprocess.TimeoutExpired):
            log.exception("private RabbitMQ did not stop; killing it")
            node.kill()
        shutil.rmtree(directory, ignore_errors=True)
