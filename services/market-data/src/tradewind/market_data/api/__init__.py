"""The internal HTTP API of market data (proxied by the gateway) and its bodies."""
