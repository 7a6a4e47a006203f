#!/usr/bin/env bash
# One PostgreSQL database per service that owns data (each service owns its store).
#
# Idempotent, and used twice by docker-compose.yml:
#   - mounted into /docker-entrypoint-initdb.d, so a fresh data volume gets the databases;
#   - run by the one-shot `postgres-init` container on every `docker compose up`, so a database
#     added to this list later also appears on an existing volume (init scripts run only once).
# Connection: the usual libpq variables (PGHOST, PGPASSWORD, ...), user $POSTGRES_USER.
# The image may source this file instead of running it: no `exit`, no `set -u`.
set -eo pipefail

tradewind_databases=(tradewind_orders tradewind_market_data tradewind_webhooks tradewind_gateway)

for tradewind_db in "${tradewind_databases[@]}"; do
    psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet \
        --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
        --set=db="$tradewind_db" <<'SQL'
SELECT format('CREATE DATABASE %I', :'db')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db')\gexec
SQL
    echo "database $tradewind_db is there"
done
