"""The gateway's use cases: API keys issued, checked, changed and revoked; broker events fanned
out to the WebSocket streams. Order commands are published by their routes (``api.orders``)."""
