"""`make chaos`: every drill against a system of its own; the table on stdout, progress on stderr.

    PYTHONPATH=tests uv run --frozen python -m chaos [--faults kill-orders,poison-orders-command]
        [--short] [--seed N] [--with-infra-restarts [--infra-down-s S]] [--private-servers]

Exit status 1 if any drill lost, doubled or broke anything, or did not recover.
``--with-infra-restarts`` adds restarts of PostgreSQL, Redis and RabbitMQ themselves, each down
for ``--infra-down-s`` seconds. The run then starts servers of its own (chaos.servers) and
restarts only those: the machine's shared servers are never restarted. ``--private-servers``
runs any drills on private servers.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import sys
import time

from chaos.drill import FULL_TIMING, SHORT_TIMING, format_table, private_infra, run_drills
from chaos.faults import (
    INFRA_DOWN_S,
    SHORT_PRIVATE_SERVERS,
    faults_named,
    infra_faults,
    service_faults,
    short_faults,
    slug,
)
from chaos.servers import SERVER_NAMES, private_servers
from support.internal import configure_service_credentials


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos", description="Chaos drills.")
    every = [slug(fault.name) for fault in service_faults() + infra_faults()]
    parser.add_argument("--faults", help=f"comma-separated, of: {', '.join(every)}")
    parser.add_argument("--short", action="store_true", help="the few drills of `make test`")
    parser.add_argument("--seed", type=int, default=None, help="seed of the load's choices")
    parser.add_argument(
        "--with-infra-restarts",
        action="store_true",
        help="also restart PostgreSQL, Redis and RabbitMQ: private ones the run starts itself",
    )
    parser.add_argument(
        "--infra-down-s",
        type=float,
        default=INFRA_DOWN_S,
        help=f"how long a restarted server stays down (default {INFRA_DOWN_S:.0f})",
    )
    parser.add_argument(
        "--private-servers",
        action="store_true",
        help="run on private PostgreSQL, Redis and RabbitMQ (implied by --with-infra-restarts)",
    )
    arguments = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request drowns the rest
    # The harness's own pools retry their floor of connections while PostgreSQL restarts, with a
    # traceback a second: the drill reports what matters.
    logging.getLogger("asyncpg.pool").setLevel(logging.ERROR)
    if arguments.faults:
        names = [name.strip() for name in arguments.faults.split(",") if name.strip()]
        faults = faults_named(names, arguments.with_infra_restarts, arguments.infra_down_s)
    elif arguments.short:
        faults = short_faults()
    else:
        infra = infra_faults(arguments.infra_down_s) if arguments.with_infra_restarts else []
        faults = service_faults() + infra
    private = arguments.with_infra_restarts or arguments.private_servers
    servers = SERVER_NAMES if private else SHORT_PRIVATE_SERVERS if arguments.short else ()
    timing = SHORT_TIMING if arguments.short else FULL_TIMING
    seed = arguments.seed if arguments.seed is not None else random.randrange(1_000_000)
    logging.getLogger("chaos").info("seed %d (--seed to repeat the load's choices)", seed)
    configure_service_credentials()

    async def drills() -> list[str]:
        started = time.monotonic()
        async with (
            private_servers(servers) as own,
            private_infra(own.overrides()) as infra,
        ):
            reports = await run_drills(infra, faults, timing, seed, own.restartable())
        clean = all(report.clean for report in reports)
        took = f"{len(faults)} drills in {time.monotonic() - started:.0f} s, seed {seed}"
        return [format_table(reports), took, "PASSED" if clean else "FAILED"]

    table, took, outcome = asyncio.run(drills())
    sys.stdout.write(f"{table}\n\n{took}: {outcome}\n")
    return 0 if outcome == "PASSED" else 1


if __name__ == "__main__":
    sys.exit(main())
