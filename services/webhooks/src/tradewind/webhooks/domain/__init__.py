"""The webhooks rules, pure: fan-out, bindings, outcomes and health, retry schedule, signing, ids,
and the events the service publishes."""
