"""Run-time flags: flagd definitions in a watched file, evaluated through OpenFeature.

Per-account targeting, percentage rollouts by account, the service in the context, the file's
edits picked up while running (and a broken edit ignored), faults counted, and the sample file
of deploy/ with every flag off.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import yaml
from openfeature.provider import ProviderStatus
from prometheus_client import REGISTRY

from support.flags_file import FlagsFile, for_accounts, for_services, switch, value
from support.polling import eventually
from tradewind.common import flags
from tradewind.common.flags import Fault, Feature
from tradewind.common.settings import SharedSettings

ROOT = Path(__file__).resolve().parents[3]
ORDER_ENTRY = Feature.GATEWAY_ORDER_ENTRY_ENABLED
REDIS = Fault.GATEWAY_REDIS_FAILURE
FAILURES = Fault.ORDERS_COMMAND_FAILURE_SHARE


@pytest.fixture
def flags_file(tmp_path: Path) -> FlagsFile:
    file = FlagsFile(tmp_path / "flags.json")
    file.all_off()
    return file


@pytest.fixture
def watched(flags_file: FlagsFile) -> Iterator[FlagsFile]:
    """The flags of ``flags_file``, as the gateway's, checked every 50 ms."""
    settings = SharedSettings(flags_file=flags_file.path, flags_poll_ms=50)
    with flags.configured("gateway", settings):
        yield flags_file


def loaded_mtime() -> float:
    return REGISTRY.get_sample_value("tradewind_flags_loaded_mtime_seconds") or 0.0


async def until_loaded(mtime: float, in_force: Callable[[], bool] = lambda: True) -> None:
    """Until the gauge says the version of ``mtime`` is loaded and ``in_force`` holds.

    The gauge alone can run ahead by one check: it reads the file's time when the provider says
    it loaded, and a write landing just then is dated before the provider has read it. A test
    that then counts or compares evaluations also waits for the change it expects to show.
    """

    async def loaded() -> bool:
        return loaded_mtime() >= mtime and in_force()

    await eventually(loaded, timeout=10, message="the edit was never loaded")


def fired(fault: Fault) -> float:
    return REGISTRY.get_sample_value("tradewind_fault_injections_total", {"flag": fault}) or 0.0


def test_without_a_flags_file_every_flag_is_at_its_default() -> None:
    with flags.configured("gateway", SharedSettings(flags_file=None)):
        assert flags.enabled(ORDER_ENTRY, account="acme", default=True)
        assert not flags.fault_on(REDIS)
        assert flags.share(FAILURES) == 0.0
        assert flags.amount(Fault.ORDERS_COMMAND_DELAY_MS) == 0


def test_a_flags_file_that_cannot_be_loaded_stops_the_start(tmp_path: Path) -> None:
    broken = tmp_path / "flags.json"
    broken.write_text("{not json")
    with (
        pytest.raises(flags.FlagsFileError, match="cannot load flags"),
        flags.configured("gateway", SharedSettings(flags_file=broken)),
    ):
        pass
    with (
        pytest.raises(flags.FlagsFileError),
        flags.configured("gateway", SharedSettings(flags_file=tmp_path / "missing.json")),
    ):
        pass


async def test_a_rule_on_the_account_affects_only_that_account(watched: FlagsFile) -> None:
    await until_loaded(
        watched.write({ORDER_ENTRY: for_accounts(["acme"], False, True)}),
        lambda: not flags.enabled(ORDER_ENTRY, account="acme", default=True),
    )

    assert not flags.enabled(ORDER_ENTRY, account="acme", default=True)
    assert flags.enabled(ORDER_ENTRY, account="globex", default=True)
    assert flags.enabled(ORDER_ENTRY, default=True)  # no account: the default variant


async def test_a_rule_on_the_service_reads_the_service_of_the_process(watched: FlagsFile) -> None:
    await until_loaded(watched.write({REDIS: for_services(["orders"], True, False)}))
    assert not flags.fault_on(REDIS)  # this process is the gateway

    await until_loaded(
        watched.write({REDIS: for_services(["gateway"], True, False)}),
        lambda: flags.fault_on(REDIS),
    )
    assert flags.fault_on(REDIS)


async def test_a_fractional_rollout_reaches_its_share_of_accounts_and_keeps_each(
    watched: FlagsFile,
) -> None:
    rollout = {
        "state": "ENABLED",
        "variants": {"on": True, "off": False},
        "defaultVariant": "off",
        "targeting": {"fractional": [["on", 30], ["off", 70]]},
    }
    accounts = [f"account-{n}" for n in range(4_000)]
    await until_loaded(
        watched.write({ORDER_ENTRY: rollout}),
        lambda: not all(flags.enabled(ORDER_ENTRY, account=a) for a in accounts[:50]),
    )

    enabled = {a for a in accounts if flags.enabled(ORDER_ENTRY, account=a)}

    assert 0.27 < len(enabled) / len(accounts) < 0.33
    # An account's bucket is a hash of the flag and the account: the same answer every time,
    # and the same after the definitions are loaded again.
    await until_loaded(watched.write({ORDER_ENTRY: rollout}))
    assert {a for a in accounts if flags.enabled(ORDER_ENTRY, account=a)} == enabled


async def test_an_edit_of_the_file_is_in_force_without_a_restart(watched: FlagsFile) -> None:
    assert not flags.fault_on(REDIS)

    watched.write({REDIS: switch(True)})
    await eventually(_async(lambda: flags.fault_on(REDIS)), message="never switched on")
    watched.all_off()
    await eventually(_async(lambda: not flags.fault_on(REDIS)), message="never switched off")


async def test_a_broken_edit_keeps_the_flags_loaded_last(watched: FlagsFile) -> None:
    await until_loaded(watched.write({REDIS: switch(True)}), lambda: flags.fault_on(REDIS))
    client = flags._evaluator.client

    watched.path.write_text('{"flags": {"gateway.redisFailure": ')

    await eventually(
        _async(lambda: client.get_provider_status() == ProviderStatus.ERROR),
        message="the broken file was never noticed",
    )
    assert flags.fault_on(REDIS)
    await until_loaded(watched.all_off(), lambda: not flags.fault_on(REDIS))
    assert not flags.fault_on(REDIS)


async def test_a_share_fault_fires_for_its_share_and_every_firing_counts(
    watched: FlagsFile,
) -> None:
    await until_loaded(
        watched.write({FAILURES: value(0.25)}), lambda: flags.share(FAILURES) == 0.25
    )
    before = fired(FAILURES)

    fires = sum(flags.fault_fires(FAILURES, account="acme") for _ in range(4_000))

    assert 800 < fires < 1_200
    assert fired(FAILURES) - before == fires
    await until_loaded(watched.write({FAILURES: value(1.5)}), lambda: flags.share(FAILURES) > 0)
    assert flags.share(FAILURES) == 1.0  # clamped
    await until_loaded(watched.all_off(), lambda: flags.share(FAILURES) == 0.0)
    assert not any(flags.fault_fires(FAILURES) for _ in range(100))
    assert fired(FAILURES) - before == fires


def test_the_sample_file_defines_every_flag_and_leaves_them_all_off() -> None:
    sample = ROOT / "deploy" / "flags" / "flags.json"
    assert set(json.loads(sample.read_text())["flags"]) == set(flags.KNOWN_FLAGS)
    with flags.configured("gateway", SharedSettings(flags_file=sample)):
        for account in ("demo", "acme", None):
            assert flags.enabled(ORDER_ENTRY, account=account)
            for fault in Fault:
                assert not flags.enabled(fault, account=account), fault
                assert flags.share(fault, account=account) == 0.0, fault
                assert flags.amount(fault, account=account) == 0, fault


def test_kubernetes_mounts_the_same_flags_and_the_runbook_explains_each() -> None:
    sample = json.loads((ROOT / "deploy" / "flags" / "flags.json").read_text())
    config_map = yaml.safe_load((ROOT / "deploy" / "k8s" / "flags.yaml").read_text())
    assert json.loads(config_map["data"]["flags.json"]) == sample
    runbook = (ROOT / "docs" / "operations.md").read_text()
    for name in flags.KNOWN_FLAGS:
        assert f"`{name}`" in runbook, name


def _async(check: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def probe() -> bool:
        return check()

    return probe
