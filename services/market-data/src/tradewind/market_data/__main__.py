"""``python -m tradewind.market_data``: serve the market-data service."""

from tradewind.common.serve import serve
from tradewind.market_data.settings import MarketDataSettings

if __name__ == "__main__":
    settings = MarketDataSettings()
    serve(
        "tradewind.market_data.app:create_app",
        host=settings.host,
        port=settings.port,
        max_header_bytes=settings.shared.max_header_bytes,
        shutdown_grace_s=settings.shared.shutdown_grace_s,
    )
