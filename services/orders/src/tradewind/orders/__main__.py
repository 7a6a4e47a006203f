"""``python -m tradewind.orders``: serve the orders service."""

from tradewind.common.serve import serve_service
from tradewind.orders.settings import OrdersSettings

if __name__ == "__main__":
    serve_service("tradewind.orders.app:create_app", OrdersSettings())
