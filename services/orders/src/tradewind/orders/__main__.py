"""``python -m tradewind.orders``: serve the orders service."""

from __future__ import annotations

import uvicorn

from tradewind.orders.settings import OrdersSettings


def main() -> None:
    settings = OrdersSettings()
    uvicorn.run(
        "tradewind.orders.app:create_app",
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
