"""``python -m tradewind.health``: serve the health service."""

from tradewind.common.serve import serve_service
from tradewind.health.settings import HealthSettings

if __name__ == "__main__":
    serve_service("tradewind.health.app:create_app", HealthSettings())
