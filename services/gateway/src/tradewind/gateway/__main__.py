"""``python -m tradewind.gateway``: serve the gateway."""

from tradewind.common.serve import serve
from tradewind.gateway.settings import GatewaySettings

if __name__ == "__main__":
    settings = GatewaySettings()
    serve("tradewind.gateway.app:create_app", host=settings.host, port=settings.port)
