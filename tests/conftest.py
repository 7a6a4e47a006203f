"""Session-wide infrastructure for integration and e2e tests (unit tests never touch it)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import pytest

from support.infra import Infra, provision
from support.internal import configure_service_credentials

configure_service_credentials()

_provisioned: list[Infra] = []
# The run's vhost, databases and Redis keys are removed when the session ends, not in a
# fixture's teardown: a session fixture's teardown runs inside the last test's teardown and its
# timeout, and on a busy machine rabbitmqctl alone can take a minute, and each DROP DATABASE a
# checkpoint of everything the run wrote.
_run_cleanup = contextlib.ExitStack()


@pytest.fixture(scope="session")
def infra_sync() -> Infra:
    infra = _run_cleanup.enter_context(provision())
    _run_cleanup.callback(_drop_stores, infra)
    _provisioned.append(infra)
    return infra


def _drop_stores(infra: Infra) -> None:
    async def drop() -> None:
        await infra.drop_databases()
        await infra.delete_redis_keys()

    asyncio.run(drop())


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _run_cleanup.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """After a failure, end the run at once if the shared services themselves are the cause.

    A broker that went away or raised a resource alarm fails every later test only after its
    timeout; one clear reason now is worth more than an hour of timeouts.
    """
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    if report.failed and _provisioned:
        problem = _provisioned[0].health_problem()
        if problem is not None:
            pytest.exit(f"stopping the run: {problem}", returncode=3)


@pytest.fixture(scope="session")
async def infra(infra_sync: Infra) -> Infra:
    return infra_sync
