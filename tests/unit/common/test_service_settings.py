"""What every service's settings and ``python -m`` share: written once, read the same everywhere."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import Field, ValidationError
from pydantic_settings import SettingsConfigDict

from tradewind.common import serve
from tradewind.common.service_settings import (
    CommaSeparatedList,
    ServiceSettings,
    TcpPort,
    local_database_url,
)


class ExampleSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TRADEWIND_EXAMPLE_")

    port: TcpPort = Field(default=8009, description="HTTP port.")
    names: CommaSeparatedList[str] = Field(default_factory=list)


def test_a_list_is_read_comma_separated_or_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEWIND_EXAMPLE_NAMES", " AAPL, MSFT,, ")
    assert ExampleSettings().names == ["AAPL", "MSFT"]
    monkeypatch.setenv("TRADEWIND_EXAMPLE_NAMES", '["AAPL", "MSFT"]')
    assert ExampleSettings().names == ["AAPL", "MSFT"]


@pytest.mark.parametrize("port", [0, 65536])
def test_a_port_outside_tcp_range_is_refused(port: int) -> None:
    with pytest.raises(ValidationError):
        ExampleSettings(port=port)


def test_a_service_inherits_where_it_listens_and_ignores_other_services_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRADEWIND_EXAMPLE_HOST", "0.0.0.0")
    monkeypatch.setenv("TRADEWIND_EXAMPLE_UNKNOWN", "1")
    settings = ExampleSettings()
    assert (settings.host, settings.port) == ("0.0.0.0", 8009)
    assert settings.shared.namespace == "tradewind"


def test_a_local_database_url_names_the_database_on_the_local_server() -> None:
    assert local_database_url("tradewind_example") == (
        "postgresql+asyncpg://postgres@127.0.0.1:5432/tradewind_example"
    )


def test_serve_service_serves_where_the_settings_say_with_the_shared_limits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRADEWIND_MAX_HEADER_BYTES", "4096")
    monkeypatch.setenv("TRADEWIND_SHUTDOWN_GRACE_S", "3")
    calls: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(serve, "serve", lambda factory, **kwargs: calls.append((factory, kwargs)))

    serve.serve_service("example.app:create_app", ExampleSettings(), ws_max_size=2048)

    assert calls == [
        (
            "example.app:create_app",
            {
                "host": "127.0.0.1",
                "port": 8009,
                "max_header_bytes": 4096,
                "shutdown_grace_s": 3.0,
                "ws_max_size": 2048,
                "metrics_host": None,
                "metrics_port": None,
            },
        )
    ]
