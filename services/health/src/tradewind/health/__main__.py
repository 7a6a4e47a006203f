"""``python -m tradewind.health``: serve the health service."""

from tradewind.common.serve import serve
from tradewind.health.settings import HealthSettings

if __name__ == "__main__":
    settings = HealthSettings()
    serve(
        "tradewind.health.app:create_app",
        host=settings.host,
        port=settings.port,
        max_header_bytes=settings.shared.max_header_bytes,
        shutdown_grace_s=settings.shared.shutdown_grace_s,
    )
