"""``python -m tradewind.webhooks``: serve the internal API and run the delivery worker."""

from __future__ import annotations

import uvicorn

from tradewind.webhooks.app import create_app
from tradewind.webhooks.settings import WebhooksSettings


def main() -> None:
    settings = WebhooksSettings()
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,  # the app's lifespan configures logging (JSON lines)
    )


if __name__ == "__main__":
    main()
