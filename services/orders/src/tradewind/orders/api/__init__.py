"""The internal HTTP API of orders (proxied by the gateway): orders, positions, instruments."""
