"""Headless Chromium (Debian package ``chromium``; .ci/run installs it, no browser download) for
tests that look at a page the way an operator's browser renders it."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Screenshots and other files CI keeps after a run; git ignores build/.
ARTIFACTS_ENV = "TRADEWIND_TEST_ARTIFACTS"
DEFAULT_ARTIFACTS = ROOT / "build" / "artifacts"
TIMEOUT_S = 90.0  # a cold start on a busy two-core machine takes seconds


def artifacts_dir() -> Path:
    """Where tests leave files for CI to keep (``$TRADEWIND_TEST_ARTIFACTS``, else
    build/artifacts/), created if needed."""
    directory = Path(os.environ.get(ARTIFACTS_ENV) or DEFAULT_ARTIFACTS)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail(
            "chromium is not on PATH. It comes with the Debian package `chromium`: "
            "apt-get install -y --no-install-recommends chromium (.ci/run installs it).",
            pytrace=False,
        )
    return path


async def _run(*args: str) -> str:
    # A profile of its own: runs in parallel never share (or lock) one. No sandbox: CI runs as
    # root in a container, where Chromium's sandbox cannot start.
    with tempfile.TemporaryDirectory(prefix="tw-chromium-") as profile:
        process = await asyncio.create_subprocess_exec(
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            async with asyncio.timeout(TIMEOUT_S):
                stdout, stderr = await process.communicate()
        except TimeoutError:
            process.kill()
            await process.wait()
            raise
    if process.returncode != 0:
        raise AssertionError(
            f"chromium exited with {process.returncode}: {stderr.decode(errors='replace')[-2000:]}"
        )
    return stdout.decode(errors="replace")


async def dump_dom(url: str) -> str:
    """The DOM of ``url`` once loaded, as Chromium serializes it."""
    return await _run("--dump-dom", url)


async def screenshot(url: str, path: Path, *, width: int = 1400, height: int = 1100) -> Path:
    """A PNG of ``url`` as rendered in a ``width`` x ``height`` window."""
    await _run(f"--screenshot={path}", f"--window-size={width},{height}", url)
    return path
