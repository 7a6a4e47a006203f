"""``python -m tradewind.health``: serve the health service with uvicorn (uvloop + httptools)."""

from __future__ import annotations

import uvicorn

from tradewind.health.settings import HealthSettings


def main() -> None:
    settings = HealthSettings()
    uvicorn.run(
        "tradewind.health.app:create_app",
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
