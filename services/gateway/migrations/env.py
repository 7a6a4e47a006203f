"""Alembic environment of the gateway's credentials database (URL from -x url=... or the app)."""

from tradewind.common.migrations import run_alembic_env
from tradewind.gateway.adapters.tables import metadata

run_alembic_env(metadata)
