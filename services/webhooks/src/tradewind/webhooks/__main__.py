"""``python -m tradewind.webhooks``: serve the webhooks API and delivery worker."""

from tradewind.common.serve import serve_service
from tradewind.webhooks.settings import WebhooksSettings

if __name__ == "__main__":
    serve_service("tradewind.webhooks.app:create_app", WebhooksSettings())
