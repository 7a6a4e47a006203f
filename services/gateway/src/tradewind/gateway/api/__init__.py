"""Public HTTP routes of the gateway, one module per resource, and what every route shares:
credential checks, admission (rate limits, Idempotency-Key) and the completed OpenAPI document."""
