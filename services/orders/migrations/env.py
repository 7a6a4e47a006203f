from tradewind.common.migrations import run_alembic_env
from tradewind.orders.store import metadata

run_alembic_env(metadata)
