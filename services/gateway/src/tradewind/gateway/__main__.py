"""``python -m tradewind.gateway``: serve the gateway."""

from tradewind.common.serve import serve_service
from tradewind.gateway.settings import GatewaySettings

if __name__ == "__main__":
    settings = GatewaySettings()
    serve_service(
        "tradewind.gateway.app:create_app",
        settings,
        ws_max_size=settings.stream_max_frame_bytes,
        metrics_host=settings.metrics_host,
        metrics_port=settings.metrics_port,
    )
