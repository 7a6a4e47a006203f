"""The private servers' pure parts: what makes each private, and which one a drill may restart.

Starting them is shown by the drills themselves (`make chaos CHAOS_ARGS=--with-infra-restarts`,
tests/e2e/test_chaos_short.py); these show the settings that keep them apart from the shared
servers, which a mistake here would restart or write into.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.faults import (
    INFRA_DOWN_S,
    SHORT_PRIVATE_SERVERS,
    RestartInfra,
    faults_named,
    infra_faults,
    short_faults,
    slug,
)
from chaos.servers import SERVER_NAMES, PrivateServers, unknown_servers
from support.private_postgres import (
    PrivatePostgres,
    as_cluster_user,
    newest_binaries,
    server_options,
)
from support.private_rabbitmq import PrivateRabbitMQ, node_environment, node_name
from support.redis_server import RedisServer


def _options(options: list[str]) -> dict[str, str]:
    assert options[::2] == ["-c"] * (len(options) // 2)
    return dict(setting.split("=", 1) for setting in options[1::2])


def test_a_private_cluster_listens_on_loopback_at_its_own_port_and_socket_directory() -> None:
    settings = _options(server_options(45432, Path("/tmp/pg-x")))
    assert settings["port"] == "45432"
    assert settings["listen_addresses"] == "127.0.0.1"
    assert settings["unix_socket_directories"] == "/tmp/pg-x"


def test_the_newest_postgresql_is_chosen_by_version_not_by_name(tmp_path: Path) -> None:
    for version in ("9.6", "15", "16", "not-a-version"):
        (tmp_path / version / "bin").mkdir(parents=True)
        (tmp_path / version / "bin" / "pg_ctl").touch()
    assert newest_binaries(tmp_path) == tmp_path / "16" / "bin"


def test_as_root_the_cluster_commands_run_as_the_cluster_user() -> None:
    assert as_cluster_user(["initdb", "-D", "x"], "postgres") == [
        "runuser",
        "-u",
        "postgres",
        "--",
        "initdb",
        "-D",
        "x",
    ]
    assert as_cluster_user(["initdb"], None) == ["initdb"]


def test_a_private_node_shares_no_name_port_or_file_with_the_machines_node(
    tmp_path: Path,
) -> None:
    env = node_environment("tw-private-ab@localhost", tmp_path, 45672, 45673)
    assert env["RABBITMQ_NODENAME"] == "tw-private-ab@localhost"
    assert (env["RABBITMQ_NODE_PORT"], env["RABBITMQ_DIST_PORT"]) == ("45672", "45673")
    # Every file and directory the node reads or writes is its own (the machine's
    # /etc/rabbitmq names the shared node and its port 5672).
    for variable in (
        "HOME",
        "RABBITMQ_MNESIA_BASE",
        "RABBITMQ_LOG_BASE",
        "RABBITMQ_ENABLED_PLUGINS_FILE",
        "RABBITMQ_CONFIG_FILE",
        "RABBITMQ_CONF_ENV_FILE",
        "RABBITMQ_PID_FILE",
    ):
        assert Path(env[variable]).is_relative_to(tmp_path), variable
    assert node_name("ab") != "rabbit@localhost"


def test_the_broker_cli_reaches_the_private_node_with_its_cookie(tmp_path: Path) -> None:
    node = PrivateRabbitMQ(tmp_path, "tw-private-ab@localhost", 45672, 45673)
    assert node.cli_options == ("-n", "tw-private-ab@localhost", "--erlang-cookie", node.cookie)
    node.prepare()
    assert (tmp_path / ".erlang.cookie").read_text() == node.cookie
    assert (tmp_path / ".erlang.cookie").stat().st_mode & 0o077 == 0
    assert (tmp_path / "enabled_plugins").read_text().strip() == "[]."


def test_a_run_uses_its_private_servers_and_the_shared_ones_for_the_rest(tmp_path: Path) -> None:
    redis = RedisServer(46379, tmp_path)
    overrides = PrivateServers(redis=redis).overrides()
    assert overrides.redis_url == redis.url
    assert (overrides.postgres_url, overrides.amqp_url) == (None, None)
    assert overrides.rabbitmq_cli_options == ()


def test_only_private_servers_are_restartable(tmp_path: Path) -> None:
    postgres = PrivatePostgres(tmp_path, 45432, binaries=tmp_path)
    rabbitmq = PrivateRabbitMQ(tmp_path, "n@localhost", 45672, 45673)
    assert PrivateServers().restartable() == {}
    assert PrivateServers(postgres=postgres, rabbitmq=rabbitmq).restartable() == {
        "postgresql": postgres,
        "rabbitmq": rabbitmq,
    }
    assert set(PrivateServers(postgres, RedisServer(1, tmp_path), rabbitmq).restartable()) == set(
        SERVER_NAMES
    )


def test_an_unknown_server_name_is_named() -> None:
    assert unknown_servers(["redis", "mysql"]) == ["mysql"]


def test_restart_drills_exist_only_when_asked_for_and_hold_the_server_down() -> None:
    with pytest.raises(ValueError, match="restart-redis"):
        faults_named(["restart-redis"], with_infra_restarts=False)
    (fault,) = faults_named(["restart-redis"], with_infra_restarts=True, infra_down_s=12)
    assert isinstance(fault, RestartInfra)
    assert (fault.server, fault.down_s) == ("redis", 12)
    assert [slug(fault.name) for fault in infra_faults()] == [
        "restart-postgresql",
        "restart-redis",
        "restart-rabbitmq",
    ]
    assert 10 <= INFRA_DOWN_S <= 30


def test_the_short_run_restarts_only_servers_it_starts_itself_within_the_issues_range() -> None:
    restarts = [fault for fault in short_faults() if isinstance(fault, RestartInfra)]
    assert restarts, "the short run has a restart drill"
    for fault in restarts:
        assert fault.server in SHORT_PRIVATE_SERVERS
        assert 10 <= fault.down_s <= 30
