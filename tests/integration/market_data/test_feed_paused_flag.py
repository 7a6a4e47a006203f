"""The fault flag marketData.feedPaused: the simulator publishes nothing while it is on, and goes
on publishing once it is off, in the running service with its flags file watched."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI
from prometheus_client import REGISTRY

from integration.market_data.market_data_helpers import listening, runtime, settings_for
from support.flags_file import FlagsFile, switch
from support.infra import Infra
from support.polling import eventually
from tradewind.common.flags import Fault
from tradewind.common.settings import SharedSettings
from tradewind.market_data.app import create_app

PAUSED = Fault.MARKET_DATA_FEED_PAUSED


def paused_ticks() -> float:
    return REGISTRY.get_sample_value("tradewind_fault_injections_total", {"flag": PAUSED}) or 0.0


async def test_the_feed_publishes_nothing_while_paused_and_resumes_after(
    infra: Infra, market_data_database_url: str, tmp_path: Path
) -> None:
    flags_file = FlagsFile(tmp_path / "flags.json")
    flags_file.all_off()
    shared = SharedSettings(
        namespace=infra.namespace,
        amqp_url=infra.amqp_url,
        redis_url=infra.redis_url,
        log_json=False,
        flags_file=flags_file.path,
        flags_poll_ms=50,
    )
    app: FastAPI = create_app(
        settings_for(
            infra,
            market_data_database_url,
            simulator_enabled=True,
            simulator_symbols=["SIM"],
            simulator_rate_hz=50,
            simulator_seed=2,
            shared=shared,
        )
    )
    async with app.router.lifespan_context(app):
        service = runtime(app)
        async with listening(service.broker, service.topology, "market.quote.SIM") as inbox:
            await inbox.next()  # the feed runs

            flags_file.write({PAUSED: switch(True)})
            first_skip = await eventually(_skipped_since(paused_ticks()), message="never paused")
            # Everything published before the first skipped tick was confirmed, hence queued.
            while await inbox.queue.get(no_ack=True, fail=False) is not None:
                pass
            await eventually(_skipped_since(first_skip + 10), message="the pause did not last")
            assert await inbox.queue.get(no_ack=True, fail=False) is None

            flags_file.all_off()
            resumed = (await inbox.next()).event
            skipped = paused_ticks()
            await inbox.next()
            assert paused_ticks() == skipped

    assert resumed.data["source"] == "simulator"


def _skipped_since(count: float) -> Callable[[], Awaitable[float | None]]:
    async def probe() -> float | None:
        now = paused_ticks()
        return now if now > count else None

    return probe
