"""Jobs the gateway has published but the orders service may not have created yet.

The orders service creates a job when its worker takes the command; until then (a busy queue,
a deferred job) a status read would find nothing. As for orders (``pending``), the gateway keeps
the ``queued`` view in Redis for that window, per account.
"""

from __future__ import annotations

from uuid import UUID

from redis.asyncio import Redis

from tradewind.common.contracts.jobs import JobView


class PendingJobs:
    def __init__(self, redis: Redis, namespace: str, ttl_s: int) -> None:
        self.redis = redis
        self.namespace = namespace
        self.ttl_s = ttl_s

    def _key(self, account_id: str, job_id: UUID) -> str:
        return f"{self.namespace}:pending-job:{account_id}:{job_id}"

    async def remember(self, account_id: str, view: JobView) -> None:
        await self.redis.set(self._key(account_id, view.id), view.model_dump_json(), ex=self.ttl_s)

    async def get(self, account_id: str, job_id: UUID) -> JobView | None:
        raw = await self.redis.get(self._key(account_id, job_id))
        return None if raw is None else JobView.model_validate_json(raw)
