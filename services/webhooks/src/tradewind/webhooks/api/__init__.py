"""The internal HTTP API of webhooks (proxied by the gateway; operator routes)."""
