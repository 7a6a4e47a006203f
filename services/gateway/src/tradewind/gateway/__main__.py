"""``python -m tradewind.gateway``: serve the gateway."""

from tradewind.common.serve import serve
from tradewind.gateway.settings import GatewaySettings

if __name__ == "__main__":
    settings = GatewaySettings()
    serve(
        "tradewind.gateway.app:create_app",
        host=settings.host,
        port=settings.port,
        max_header_bytes=settings.shared.max_header_bytes,
        shutdown_grace_s=settings.shared.shutdown_grace_s,
        ws_max_size=settings.stream_max_frame_bytes,
        metrics_host=settings.metrics_host,
        metrics_port=settings.metrics_port,
    )
