"""A private PostgreSQL cluster a test may stop and start again, unlike the run's shared one.

``initdb`` into a temporary directory, ``pg_ctl start`` on a free loopback port, trust
authentication for ``postgres``; removed with everything in it at the end. PostgreSQL refuses to
run as root, so as root the cluster belongs to the ``postgres`` user (``runuser``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from support.services import free_port

log = logging.getLogger(__name__)

BINARIES_ROOT = Path("/usr/lib/postgresql")
CLUSTER_USER = "postgres"
# Enough for the four services' pools, a second orders process and the harness's own.
MAX_CONNECTIONS = 300


def newest_binaries(root: Path = BINARIES_ROOT) -> Path:
    """The ``bin`` directory of the newest PostgreSQL under ``root`` (``<root>/<major>/bin``),
    or the directory holding ``pg_ctl`` on the PATH when none is there."""
    versions = [
        path.parent
        for path in root.glob("*/bin/pg_ctl")
        if path.parent.parent.name.replace(".", "").isdigit()
    ]
    if versions:
        return max(versions, key=lambda bin_dir: _version_key(bin_dir.parent.name))
    on_path = shutil.which("pg_ctl")
    if on_path is None:
        raise RuntimeError(f"no PostgreSQL server binaries under {root} nor on the PATH")
    return Path(on_path).parent


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def server_options(port: int, socket_dir: Path) -> list[str]:
    """``postgres`` options of a throwaway cluster: loopback only, its own socket directory
    (the shared cluster's /var/run/postgresql is not ours), no fsync (its data is thrown away;
    a restart is a clean shutdown, which fsync does not matter to)."""
    settings = {
        "port": str(port),
        "listen_addresses": "127.0.0.1",
        "unix_socket_directories": str(socket_dir),
        "max_connections": str(MAX_CONNECTIONS),
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
    }
    return [option for name, value in settings.items() for option in ("-c", f"{name}={value}")]


def as_cluster_user(command: Sequence[str], user: str | None) -> list[str]:
    """``command`` run as ``user`` (None: as whoever runs this)."""
    return list(command) if user is None else ["runuser", "-u", user, "--", *command]


class PrivatePostgres:
    """One cluster in ``directory``: ``init`` once, then ``start`` and ``stop`` as often as a
    test likes (the data survives a stop, as a restarted server's does)."""

    def __init__(
        self,
        directory: Path,
        port: int,
        binaries: Path | None = None,
        user: str | None = None,
    ) -> None:
        self.directory = directory
        self.port = port
        self.binaries = binaries if binaries is not None else newest_binaries()
        self.user = user
        self.started_pid: int | None = None

    @property
    def name(self) -> str:
        return "postgresql"

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def log_path(self) -> Path:
        return self.directory / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def init(self) -> PrivatePostgres:
        self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )
        return self

    def start(self) -> PrivatePostgres:
        """Start it and return once it accepts connections (``pg_ctl -w``)."""
        options = " ".join(server_options(self.port, self.directory))
        self._run(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_path),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )
        self.started_pid = self._postmaster_pid()
        return self

    def stop(self) -> None:
        """A fast shutdown (what ``systemctl restart postgresql`` does): open sessions are
        ended, the data is kept."""
        pid = self._postmaster_pid()
        if pid is None:
            return
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "60", "stop")
        # pg_ctl returns once the pid file is gone; the postmaster may still be exiting then.
        deadline = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)

    def kill(self) -> None:
        """The postmaster this helper started, by its pid, if it still runs (teardown)."""
        pid = self._postmaster_pid() or self.started_pid
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                # SIGQUIT: the postmaster ends its children at once, then itself.
                os.kill(pid, signal.SIGQUIT)

    def tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def _postmaster_pid(self) -> int | None:
        pid_file = self.data_dir / "postmaster.pid"
        try:
            return int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _run(self, tool: str, *args: str) -> None:
        command = as_cluster_user([str(self.binaries / tool), *args], self.user)
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(
                f"{tool} failed ({done.returncode}): {done.stdout}{done.stderr}\n{self.tail()}"
            )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _cluster_user() -> str | None:
    """Who owns the cluster: ``postgres`` when running as root (initdb refuses root)."""
    if os.geteuid() != 0:
        return None
    pwd.getpwnam(CLUSTER_USER)  # a KeyError names what is missing
    return CLUSTER_USER


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A running private cluster; stopped and deleted at the end, whatever happened."""
    directory = Path(tempfile.mkdtemp(prefix="tw-private-pg-"))
    user = _cluster_user()
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(directory, entry.pw_uid, entry.pw_gid)
    server = PrivatePostgres(directory, free_port(), user=user)
    try:
        server.init().start()
        log.info("private PostgreSQL on port %d in %s", server.port, directory)
        yield server
    finally:
        try:
            server.stop()
        except (RuntimeError, subprocess.TimeoutExpired):
            log.exception("private PostgreSQL did not stop; killing it")
            server.kill()
        shutil.rmtree(directory, ignore_errors=True)
