"""``python -m tradewind.market_data``: serve the market-data service."""

from tradewind.common.serve import serve_service
from tradewind.market_data.settings import MarketDataSettings

if __name__ == "__main__":
    serve_service("tradewind.market_data.app:create_app", MarketDataSettings())
