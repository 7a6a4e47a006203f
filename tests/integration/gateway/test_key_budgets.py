"""A key's own rate-limit budgets are part of its record in PostgreSQL: the operator's CLI writes
them there, and every gateway's admission spends from them, whatever Redis has forgotten."""

from __future__ import annotations

import asyncio
import os
import sys

from redis.asyncio import Redis

from integration.gateway.harness import Gateway
from support.infra import Infra
from tradewind.gateway.auth import ApiKeyStore
from tradewind.gateway.rate_limits import Budget


async def _cli(env: dict[str, str], *args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tradewind.gateway.keys",
        *args,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_the_cli_budget_is_stored_in_the_database_and_spent_by_the_gateway(
    infra: Infra,
    gateway_database: str,
    namespace: str,
    account: str,
    keys: ApiKeyStore,
    gateway: Gateway,
    redis: Redis,
) -> None:
    env = {
        "TRADEWIND_GATEWAY_DATABASE_URL": gateway_database,
        "TRADEWIND_REDIS_URL": infra.redis_url,
        "TRADEWIND_NAMESPACE": namespace,
    }
    printed = await _cli(
        env, "create", "--account", account, "--budget", "reads=2/3600", "--budget", "keys=9/60"
    )
    fields = dict(line.split(": ", 1) for line in printed.splitlines() if ": " in line)
    record = await keys.find_key(account, fields["key_id"])
    assert record is not None
    assert set(record.rate_budgets) == {Budget("reads", 2, 3600), Budget("keys", 9, 60)}

    # Redis forgets the key's cached state: the budgets come back from PostgreSQL.
    await redis.delete(f"{namespace}:apikey:{fields['key_id']}")
    headers = {"Authorization": f"Bearer {fields['api_key']}"}
    answers = [await gateway.client.get("/api/v1/auth/me", headers=headers) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[0].headers["ratelimit-policy"] == '"reads";q=2;w=3600'
    assert answers[1].headers["ratelimit"].startswith('"reads";r=0;')
