"""The gateway's own rules, pure: order ids, commands and pending views, the public bodies they
are made from, API key vocabulary, rate-limit budgets, access tokens, a stream client's backlog."""
