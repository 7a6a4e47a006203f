"""Alembic environment of the webhooks database (the URL comes from -x url=... or the service)."""

from tradewind.common.migrations import run_alembic_env
from tradewind.webhooks.adapters.tables import metadata

run_alembic_env(metadata)
