from tradewind.common.migrations import run_alembic_env
from tradewind.orders.adapters.tables import metadata

run_alembic_env(metadata)
