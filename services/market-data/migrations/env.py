from tradewind.common.migrations import run_alembic_env
from tradewind.market_data.adapters.store import metadata

run_alembic_env(metadata)
