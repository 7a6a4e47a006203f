"""What the gateway talks to: its credentials database, Redis (key caches, pending views,
admission script batches, stream leases), the services behind it over HTTP, the broker's stream
bindings."""
