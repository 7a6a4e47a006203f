"""``python -m tradewind.market_data``: serve the market-data service."""

from __future__ import annotations

import uvicorn

from tradewind.market_data.settings import MarketDataSettings


def main() -> None:
    settings = MarketDataSettings()
    uvicorn.run(
        "tradewind.market_data.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        # The service configures logging itself (JSON lines) when its lifespan starts.
        log_config=None,
    )


if __name__ == "__main__":
    main()
