"""What the webhooks service talks to: its database (endpoints, messages, deliveries), the
broker's bindings, partners' endpoints over HTTP (with the SSRF guard), secrets at rest."""
