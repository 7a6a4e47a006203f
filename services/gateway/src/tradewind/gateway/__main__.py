"""``python -m tradewind.gateway``: serve the gateway with uvicorn (uvloop + httptools)."""

from __future__ import annotations

import uvicorn

from tradewind.gateway.settings import GatewaySettings


def main() -> None:
    settings = GatewaySettings()
    uvicorn.run(
        "tradewind.gateway.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    main()
