"""``python -m tradewind.orders``: serve the orders service."""

from tradewind.common.serve import serve
from tradewind.orders.settings import OrdersSettings

if __name__ == "__main__":
    settings = OrdersSettings()
    serve(
        "tradewind.orders.app:create_app",
        host=settings.host,
        port=settings.port,
        max_header_bytes=settings.shared.max_header_bytes,
        shutdown_grace_s=settings.shared.shutdown_grace_s,
    )
