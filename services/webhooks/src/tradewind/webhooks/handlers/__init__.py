"""The webhooks use cases: event intake and endpoint management, the delivery dispatcher, what an
attempt's outcome changes."""
