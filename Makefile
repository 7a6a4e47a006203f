# Tradewind — the commands a developer needs. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := .venv

PYTHON_SOURCES := libs services tests bench deploy tools

# The official AsyncAPI parser, which make test validates docs/asyncapi.yaml with (Node.js).
# npm writes node_modules/.package-lock.json on every install, so a copy newer than the lock file
# means node_modules is what the lock file says: nothing to do.
ASYNCAPI := tools/asyncapi
ASYNCAPI_PARSER := $(ASYNCAPI)/node_modules/.package-lock.json

.PHONY: help env asyncapi-parser run test lint typecheck unit integration e2e chaos bench up down keys clean

help: ## List the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

$(UV):
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

env: $(UV) ## Create .venv from the lock file (Python 3.11)
	$(UV) sync --frozen --all-packages

$(ASYNCAPI_PARSER): $(ASYNCAPI)/package.json $(ASYNCAPI)/package-lock.json
	npm ci --prefix $(ASYNCAPI) --ignore-scripts --no-audit --no-fund
	@touch $@

asyncapi-parser: $(ASYNCAPI_PARSER) ## Install the AsyncAPI parser from its lock file (npm ci; Node.js 20)

run: env ## Start every service locally (needs PostgreSQL, Redis, RabbitMQ on localhost)
	$(UV) run --frozen python deploy/local/run.py

test: env asyncapi-parser lint typecheck ## Lint, type-check and run every test against the real services
	$(UV) run --frozen pytest

lint: env ## ruff lint and format check; import rules (import-linter)
	$(UV) run --frozen ruff check $(PYTHON_SOURCES)
	$(UV) run --frozen ruff format --check $(PYTHON_SOURCES)
	$(UV) run --frozen lint-imports

typecheck: env ## mypy (strict) over the code, tests and benchmarks
	$(UV) run --frozen mypy libs/common/src services/*/src tests bench deploy/local tools/asyncapi tools/graphql

unit: env asyncapi-parser ## Unit tests only (no services needed)
	$(UV) run --frozen pytest tests/unit

integration: env ## Integration tests (real PostgreSQL, Redis, RabbitMQ)
	$(UV) run --frozen pytest tests/integration

e2e: env ## End-to-end tests (services as processes)
	$(UV) run --frozen pytest tests/e2e

chaos: env ## Chaos drills: every fault under load, then the invariants table (CHAOS_ARGS=--help)
	PYTHONPATH=tests $(UV) run --frozen python -m chaos $(CHAOS_ARGS)

bench: env ## Benchmarks; figures go to stdout and bench/results/ (needs wrk)
	$(UV) run --frozen python bench/orders_saturation_bench.py
	$(UV) run --frozen python bench/orders_scaleout_bench.py
	$(UV) run --frozen python bench/orders_scale_bench.py
	$(UV) run --frozen python bench/orders_bench.py
	$(UV) run --frozen python bench/market_data_bench.py
	$(UV) run --frozen python bench/stream_bench.py
	$(UV) run --frozen python bench/webhooks_bench.py
	$(UV) run --frozen python bench/gateway_bench.py

up: ## Everything in Docker (needs a Docker engine)
	docker compose up -d --build

down: ## Stop the Docker stack
	docker compose down

keys: env ## Create an API key: make keys ACCOUNT=acme
	$(UV) run --frozen python -m tradewind.gateway.keys create --account $(ACCOUNT)

clean: ## Remove the environment and caches
	rm -rf .venv $(TOOLS) .mypy_cache .ruff_cache .pytest_cache $(ASYNCAPI)/node_modules
