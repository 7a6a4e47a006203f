"""The feed supervisor's decisions: which feed of the chain publishes a symbol's quotes, when it
fails over (stale, failing) and when it switches back (steady for the hold period)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradewind.market_data.domain.feed_supervisor import (
    FailoverPolicy,
    FeedSupervisor,
    Gap,
    Switch,
)

STALENESS = 2.0
HOLD = 5.0
THRESHOLD = 3
POLICY = FailoverPolicy(
    chain=("primary", "backup", "last"),
    staleness_s=STALENESS,
    hold_s=HOLD,
    failure_threshold=THRESHOLD,
)


def supervisor(policy: FailoverPolicy = POLICY) -> FeedSupervisor:
    return FeedSupervisor(policy, now=0.0)


def ticks(start: float, end: float, step: float = 0.5) -> Iterable[float]:
    t = start
    while t < end - 1e-9:
        yield round(t, 6)
        t += step


@dataclass(frozen=True)
class Published:
    at: float
    provider: str


def run(
    chain: FeedSupervisor, schedule: dict[str, Iterable[float]], symbol: str = "AAPL"
) -> tuple[list[Published], list[Switch]]:
    """Feeds quote ``symbol`` at the given times; what was published, and the switches."""
    events = sorted(
        (at, chain.policy.chain.index(provider), provider)
        for provider, times in schedule.items()
        for at in times
    )
    published: list[Published] = []
    switches: list[Switch] = []
    for at, _, provider in events:
        offer = chain.offer(provider, [symbol], now=at)
        switches += offer.switches
        if symbol in offer.admitted:
            published.append(Published(at, provider))
    return published, switches


def publishers(published: list[Published]) -> list[str]:
    """The runs of providers in the published stream, e.g. [primary, backup, primary]."""
    runs: list[str] = []
    for item in published:
        if not runs or runs[-1] != item.provider:
            runs.append(item.provider)
    return runs


# --- start ---


def test_at_start_the_first_feed_of_the_chain_takes_a_symbol_even_if_another_quoted_first() -> None:
    chain = supervisor()

    backup_first = chain.offer("backup", ["AAPL"], now=0.1)
    primary = chain.offer("primary", ["AAPL"], now=0.3)

    assert backup_first.admitted == frozenset()
    assert primary.admitted == {"AAPL"}
    assert primary.switches == (Switch("AAPL", None, "primary", "start"),)


def test_after_the_warm_up_a_lower_feed_takes_a_symbol_no_better_feed_quotes() -> None:
    chain = supervisor()

    offer = chain.offer("backup", ["AAPL"], now=STALENESS + 0.1)

    assert offer.admitted == {"AAPL"}
    assert offer.switches == (Switch("AAPL", None, "backup", "start"),)


# --- failover ---


def test_a_stale_feed_hands_its_symbol_to_the_next_fresh_one() -> None:
    published, switches = run(supervisor(), {"primary": ticks(0, 3), "backup": ticks(0.25, 10)})

    assert publishers(published) == ["primary", "backup"]
    first_backup = next(p.at for p in published if p.provider == "backup")
    # The primary's last quote was at 2.5: stale once more than 2 s passed, not before.
    assert 4.5 < first_backup <= 4.5 + 0.5
    assert [s.reason for s in switches] == ["start", "stale"]


def test_a_feed_that_keeps_failing_hands_its_symbols_over() -> None:
    chain = supervisor()
    chain.offer("primary", ["AAPL", "MSFT"], now=0.1)
    for _ in range(THRESHOLD):
        chain.failed("primary", now=1.0)

    offer = chain.offer("backup", ["AAPL", "MSFT"], now=1.1)

    assert offer.admitted == {"AAPL", "MSFT"}
    assert {(s.symbol, s.to_provider, s.reason) for s in offer.switches} == {
        ("AAPL", "backup", "failing"),
        ("MSFT", "backup", "failing"),
    }


def test_fewer_errors_than_the_threshold_change_nothing() -> None:
    chain = supervisor()
    chain.offer("primary", ["AAPL"], now=0.1)
    for _ in range(THRESHOLD - 1):
        chain.failed("primary", now=1.0)

    assert chain.offer("backup", ["AAPL"], now=1.1).admitted == frozenset()
    assert chain.active("AAPL") == "primary"


def test_a_success_ends_a_run_of_errors() -> None:
    chain = supervisor()
    chain.offer("primary", ["AAPL"], now=0.1)
    for _ in range(THRESHOLD - 1):
        chain.failed("primary", now=1.0)
    chain.offer("primary", ["AAPL"], now=1.2)
    chain.failed("primary", now=1.3)

    assert chain.offer("backup", ["AAPL"], now=1.4).admitted == frozenset()


def test_failover_is_per_symbol() -> None:
    chain = supervisor()
    chain.offer("primary", ["AAPL", "MSFT"], now=0.1)
    chain.offer("backup", ["AAPL", "MSFT"], now=0.2)

    # The primary goes on quoting AAPL only.
    chain.offer("primary", ["AAPL"], now=2.0)
    offer = chain.offer("backup", ["AAPL", "MSFT"], now=3.0)

    assert offer.admitted == {"MSFT"}
    assert (chain.active("AAPL"), chain.active("MSFT")) == ("primary", "backup")


def test_failover_prefers_a_steady_feed_to_one_that_just_came_back() -> None:
    chain = supervisor()
    published, _ = run(
        chain,
        {
            # The primary stops at 3 and comes back at 9; the backup stops at 10; "last"
            # quotes all along.
            "primary": [*ticks(0, 3), *ticks(9, 12)],
            "backup": ticks(0.1, 10),
            "last": ticks(0.2, 12),
        },
    )

    assert publishers(published) == ["primary", "backup", "last"]


def test_with_no_fresh_feed_left_the_symbol_stays_where_it_is() -> None:
    chain = supervisor()
    chain.offer("primary", ["AAPL"], now=0.1)
    chain.offer("backup", ["AAPL"], now=0.2)

    assert chain.offer("primary", ["AAPL"], now=30.0).admitted == {"AAPL"}
    assert chain.active("AAPL") == "primary"


# --- recovery ---


def test_a_recovered_feed_takes_its_symbol_back_after_the_hold_period() -> None:
    published, switches = run(
        supervisor(),
        {"primary": [*ticks(0, 3), *ticks(10, 30)], "backup": ticks(0.25, 30)},
    )

    assert publishers(published) == ["primary", "backup", "primary"]
    back = next(p.at for p in published if p.provider == "primary" and p.at >= 10)
    assert back == 10 + HOLD
    assert [s.reason for s in switches] == ["start", "stale", "recovered"]


@pytest.mark.parametrize(
    ("primary_back", "why"),
    [
        # Quotes 3 s, silent 2.5 s (more than the staleness), again and again: never steady
        # for the 5 s hold, so it never takes the symbol back.
        ([*ticks(10, 13), *ticks(15.5, 18.5), *ticks(21, 24), *ticks(26.5, 29.5)], "gaps"),
        # Quotes all along but errs every 4 s: each error restarts the hold.
        (ticks(10, 30), "errors"),
    ],
)
def test_a_feed_that_keeps_dropping_out_never_takes_its_symbol_back(
    primary_back: Iterable[float], why: str
) -> None:
    chain = supervisor()
    events: list[tuple[float, str]] = [(t, "primary") for t in ticks(0, 3)]
    events += [(t, "primary") for t in primary_back]
    events += [(t, "backup") for t in ticks(0.25, 30)]
    if why == "errors":
        events += [(t, "error") for t in (13.9, 17.9, 21.9, 25.9, 29.9)]
    switches: list[Switch] = []
    for at, what in sorted(events):
        if what == "error":
            chain.failed("primary", now=at)
        else:
            switches += chain.offer(what, ["AAPL"], now=at).switches

    assert [(s.to_provider, s.reason) for s in switches] == [
        ("primary", "start"),
        ("backup", "stale"),
    ]


def test_a_feed_that_joins_late_waits_the_hold_before_taking_a_symbol() -> None:
    published, _ = run(supervisor(), {"primary": ticks(10, 20), "backup": ticks(0, 20)})

    assert publishers(published) == ["backup", "primary"]
    assert next(p.at for p in published if p.provider == "primary") == 10 + HOLD


def test_the_hold_of_zero_switches_back_at_the_first_quote() -> None:
    chain = supervisor(
        FailoverPolicy(chain=("primary", "backup"), staleness_s=2, hold_s=0, failure_threshold=1)
    )
    published, _ = run(chain, {"primary": [*ticks(0, 1), *ticks(5, 6)], "backup": ticks(0, 8)})

    assert publishers(published) == ["primary", "backup", "primary"]
    assert next(p.at for p in published if p.provider == "primary" and p.at >= 5) == 5


# --- health ---


def test_health_reports_state_role_gaps_latency_and_uptime() -> None:
    chain = supervisor()
    chain.offer("primary", ["AAPL", "MSFT"], now=0.0, latency_s=0.25)
    chain.offer("primary", ["AAPL"], now=1.5, latency_s=0.25)
    chain.offer("primary", ["AAPL"], now=3.0, latency_s=0.5)  # MSFT went stale at 2
    chain.offer("backup", ["MSFT"], now=3.5)
    for _ in range(THRESHOLD):
        chain.failed("last", now=4.0)

    assert chain.tick(4.0) == (Gap("primary", "MSFT"),)
    assert chain.tick(4.5) == ()  # counted once per silence
    primary, backup, last = chain.health(5.0)

    assert (primary.state, primary.role, primary.active_symbols) == (
        "degraded",
        "active",
        ("AAPL",),
    )
    assert (primary.quoted_symbols, primary.fresh_symbols, primary.gaps) == (2, 1, 1)
    assert primary.last_latency_s == 0.5
    assert primary.last_quote_age_s == 2.0
    # Up from 0 until 5 (the AAPL quote at 3 stays fresh until 5): all of the 5 s.
    assert primary.uptime_ratio == 1.0
    assert (backup.state, backup.role, backup.active_symbols) == ("healthy", "active", ("MSFT",))
    # Up from 3.5 to 5.0 of 5 s.
    assert backup.uptime_ratio == pytest.approx(1.5 / 5)
    assert (last.state, last.role, last.errors, last.consecutive_errors) == (
        "failing",
        "standby",
        THRESHOLD,
        THRESHOLD,
    )
    assert last.last_quote_age_s is None
    assert last.uptime_ratio == 0.0


def test_uptime_stops_counting_when_the_last_fresh_quote_expires() -> None:
    chain = supervisor()
    chain.offer("primary", ["AAPL"], now=0.0)

    (primary, *_) = chain.health(10.0)

    assert primary.state == "stale"
    assert primary.uptime_ratio == pytest.approx(STALENESS / 10)


def test_a_silence_ended_by_a_late_quote_is_one_gap() -> None:
    chain = supervisor()
    chain.offer("primary", ["AAPL"], now=0.0)

    late = chain.offer("primary", ["AAPL"], now=5.0)

    assert late.gaps == (Gap("primary", "AAPL"),)
    assert chain.tick(5.1) == ()


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ({"chain": ()}, "each provider once"),
        ({"chain": ("a", "a")}, "each provider once"),
        ({"staleness_s": 0}, "staleness must be positive"),
        ({"hold_s": -1}, "hold not negative"),
        ({"failure_threshold": 0}, "threshold >= 1"),
    ],
)
def test_a_policy_that_cannot_work_is_refused(policy: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {
        "chain": ("a", "b"),
        "staleness_s": 1.0,
        "hold_s": 1.0,
        "failure_threshold": 1,
        **policy,
    }
    with pytest.raises(ValueError, match=message):
        FailoverPolicy(**fields)  # type: ignore[arg-type]


def test_a_provider_outside_the_chain_is_refused() -> None:
    with pytest.raises(KeyError):
        supervisor().offer("elsewhere", ["AAPL"], now=0.0)


# --- properties, against a reference computed from the history alone ---

PROVIDERS = POLICY.chain
SYMBOLS = ("AAPL", "MSFT")
ERRORS = "errors"  # the provider fails THRESHOLD times in a row, at once
event = st.tuples(
    # Time since the previous event: mostly short, one in six times more than the staleness.
    st.one_of(*[st.floats(min_value=0.01, max_value=0.3)] * 5, st.floats(min_value=2, max_value=4)),
    st.sampled_from(PROVIDERS),
    # A quote of a symbol, one error (None) or a run of errors that makes it failing.
    st.one_of(st.sampled_from(SYMBOLS), st.none(), st.just(ERRORS)),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(event, min_size=20, max_size=150))
def test_the_active_feed_is_usable_and_switches_back_only_after_a_steady_hold(
    history: list[tuple[float, str, str | None]],
) -> None:
    chain = supervisor()
    now = 0.0
    quotes: dict[tuple[str, str], list[float]] = {}
    errors: dict[str, list[float]] = {}
    consecutive: dict[str, int] = dict.fromkeys(PROVIDERS, 0)
    for step, provider, symbol in history:
        now += step
        if symbol is None or symbol == ERRORS:
            for _ in range(1 if symbol is None else THRESHOLD):
                chain.failed(provider, now=now)
                errors.setdefault(provider, []).append(now)
                consecutive[provider] += 1
            continue
        consecutive[provider] = 0
        quotes.setdefault((provider, symbol), []).append(now)
        offer = chain.offer(provider, [symbol], now=now)
        holder = chain.active(symbol)

        # One feed publishes a symbol: the offering feed's quote is admitted iff it holds it.
        assert (symbol in offer.admitted) == (holder == provider)
        if holder is None:
            # Only during the warm-up, and only while the chain's first feed has not quoted.
            assert now < STALENESS
            assert (PROVIDERS[0], symbol) not in quotes
            continue
        # The holder is usable: it quoted the symbol within the staleness and is not failing.
        assert now - quotes[(holder, symbol)][-1] <= STALENESS
        assert consecutive[holder] < THRESHOLD
        for switch in offer.switches:
            if switch.reason == "recovered":
                # Better-ranked, and steady for the hold: quotes at most the staleness apart
                # since a quote at least the hold ago, and no error within the hold.
                assert switch.from_provider is not None
                assert PROVIDERS.index(switch.to_provider) < PROVIDERS.index(switch.from_provider)
                times = quotes[(switch.to_provider, symbol)]
                run_start = times[-1]
                for earlier, later in zip(reversed(times[:-1]), reversed(times), strict=False):
                    if later - earlier > STALENESS:
                        break
                    run_start = earlier
                assert now - run_start >= HOLD
                assert all(now - at >= HOLD for at in errors.get(switch.to_provider, []))
            elif switch.reason in ("stale", "failing"):
                assert switch.from_provider is not None
                previous = switch.from_provider
                was_stale = now - quotes[(previous, symbol)][-1] > STALENESS
                assert was_stale or consecutive[previous] >= THRESHOLD
