"""Session-wide infrastructure for integration and e2e tests (unit tests never touch it)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

import pytest

from support.infra import Infra, provision
from support.internal import configure_service_credentials

configure_service_credentials()

_provisioned: list[Infra] = []
# The run's vhost is removed when the session ends, not in a fixture's teardown: that would run
# inside the last test's teardown and its timeout, and rabbitmqctl alone can take a minute on a
# busy machine.
_vhost_cleanup = contextlib.ExitStack()


@pytest.fixture(scope="session")
def infra_sync() -> Infra:
    infra = _vhost_cleanup.enter_context(provision())
    _provisioned.append(infra)
    return infra


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _vhost_cleanup.close()


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
async def infra(infra_sync: Infra) -> AsyncIterator[Infra]:
    try:
        yield infra_sync
    finally:
        await infra_sync.drop_databases()
        await infra_sync.delete_redis_keys()
