# syntax=docker/dockerfile:1
# The image of every Tradewind service; the build arguments pick which. Build context: the
# repository root. docker-compose.yml passes the arguments; by hand:
#   docker build -f deploy/docker/service.Dockerfile \
#     --build-arg SERVICE=market-data --build-arg PACKAGE=market_data --build-arg PORT=8002 \
#     -t tradewind-market-data .
# One file for all services: they share their shape, so they share their image recipe.

ARG PYTHON_IMAGE=python:3.11-slim

# --- Stage 1: just the workspace members' pyproject.toml files --------------------------------
# `uv sync --frozen` needs every workspace member's pyproject.toml, whichever package it installs.
# Copying them all here (and only them) keeps the dependency layer below cached until a manifest
# changes, and picks up members added later without editing this file.
FROM ${PYTHON_IMAGE} AS manifests
WORKDIR /src
COPY libs libs
COPY services services
RUN find libs services -type f ! -name pyproject.toml -delete \
    && find libs services -type d -empty -delete

# --- Stage 2: build the virtualenv with uv from the lock file --------------------------------
FROM ${PYTHON_IMAGE} AS builder
ARG SERVICE
RUN test -n "${SERVICE}" || (echo "build-arg SERVICE is required" >&2 && exit 1)
RUN pip install --no-cache-dir --disable-pip-version-check uv==0.13.9
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app
COPY pyproject.toml uv.lock ./
COPY --from=manifests /src/ ./
# Third-party dependencies only (cached while the lock and manifests stay the same).
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-workspace --package "tradewind-${SERVICE}"
# Then tradewind-common and the service itself, installed as wheels (not editable): the runtime
# stage needs only the virtualenv (and the service's migrations, below).
COPY libs/common libs/common
COPY services/${SERVICE} services/${SERVICE}
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package "tradewind-${SERVICE}"

# --- Stage 3: runtime ----------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ARG SERVICE
ARG PACKAGE
ARG PORT
RUN groupadd --system --gid 10001 tradewind \
    && useradd --system --uid 10001 --gid tradewind --no-create-home --home-dir /app \
       --shell /usr/sbin/nologin tradewind
WORKDIR /app
COPY --from=builder /app/.venv /app/.venv
# The service directory carries alembic.ini and migrations/ where it has a database; the one-shot
# migrate-<service> containers run them (tradewind.common.migrations).
COPY --from=builder /app/services/${SERVICE} services/${SERVICE}
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TRADEWIND_SERVICE_MODULE=tradewind.${PACKAGE} \
    TRADEWIND_SERVICE_PORT=${PORT}
USER 10001:10001
EXPOSE ${PORT}
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health/ready' % os.environ['TRADEWIND_SERVICE_PORT'], timeout=4)"]
CMD ["sh", "-c", "exec python -m \"$TRADEWIND_SERVICE_MODULE\""]
