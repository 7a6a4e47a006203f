"""A latency probe in a process of its own: GET a URL every interval until interrupted, then print
each answer's latency (ms) as a JSON list. A benchmark's own event loop is busy with the load it
makes; a probe sharing it would measure that loop, not the service.

    python bench/latency_probe.py URL [--interval 0.02]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import time

import aiohttp


async def probe(url: str, interval_s: float) -> list[float]:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    latencies: list[float] = []
    # Internal routes need the token the services under test were given (ServiceProcess).
    token = os.environ.get("TRADEWIND_INTERNAL_TOKEN")
    headers = {"X-Internal-Token": token} if token else {}
    async with aiohttp.ClientSession(headers=headers) as session:
        while not stop.is_set():
            started = time.perf_counter()
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(url) as response:
                    await response.read()
                latencies.append((time.perf_counter() - started) * 1000)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval_s):
                    await stop.wait()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--interval", type=float, default=0.02)
    args = parser.parse_args()
    sys.stdout.write(json.dumps(asyncio.run(probe(args.url, args.interval))) + "\n")


if __name__ == "__main__":
    main()
