"""``python -m tradewind.webhooks``: serve the webhooks API and delivery worker."""

from tradewind.common.serve import serve
from tradewind.webhooks.settings import WebhooksSettings

if __name__ == "__main__":
    settings = WebhooksSettings()
    serve(
        "tradewind.webhooks.app:create_app",
        host=settings.host,
        port=settings.port,
        max_header_bytes=settings.shared.max_header_bytes,
        shutdown_grace_s=settings.shared.shutdown_grace_s,
    )
