"""Open-loop load in a process of its own: POST a place order at a fixed rate, then print, as
JSON, when each accepted order's request started and when its 202 arrived (time.perf_counter:
CLOCK_MONOTONIC, the same clock in every process of the machine). The benchmark's consumer notes
when each order's event arrives on that clock; the load it makes does not delay what it measures.

    python bench/open_loop.py URL KEY --rate 300 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen import fixed_rate
from stack import ORDER


async def load(url: str, key: str, rate: float, seconds: float) -> dict[str, tuple[float, float]]:
    timings: dict[str, tuple[float, float]] = {}
    headers = {"Authorization": f"Bearer {key}"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=512)) as session:

        async def fire(_: int) -> None:
            started = time.perf_counter()
            async with session.post(url, json=ORDER, headers=headers) as response:
                body = await response.json()
            if response.status == 202:
                timings[body["id"]] = (started, time.perf_counter())

        await fixed_rate(rate, seconds, fire)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("key")
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    args = parser.parse_args()
    sys.stdout.write(json.dumps(asyncio.run(load(args.url, args.key, args.rate, args.seconds))))


if __name__ == "__main__":
    main()
