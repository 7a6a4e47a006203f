"""Which quote feed each symbol's quotes come from: the feed supervisor. Pure: no I/O, and time is
passed in (monotonic seconds), so every decision can be replayed in a test.

The feeds form an ordered chain, best first. Each symbol has one active feed at a time, and only
that feed's quotes of the symbol are published. A feed is *fresh* for a symbol while its last
quote of it is at most ``staleness_s`` old, and *failing* after ``failure_threshold`` errors in a
row. The decision is taken when a feed offers a quote, the only moment it changes what is
published:

- the active feed is neither fresh nor failing-free: the symbol moves to the best other fresh
  feed (one that has been steady for the hold period first, so that a feed which just came
  back is not preferred over one that stayed up);
- a better-ranked feed has been steady for ``hold_s`` (fresh without a gap and without an error
  all that time): the symbol moves back to it. The hold is what prevents flapping: a feed that
  keeps dropping out never stays steady long enough to take a symbol back;
- a symbol no feed has yet: during the first ``staleness_s`` after start only the first feed of
  the chain may take it (the others would otherwise win the race to the first quote and make
  the chain's first feed wait a hold period); after that, the best fresh feed.

Decisions are per symbol, because feeds rarely cover the same symbols: a feed that stops quoting
one symbol loses that symbol only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

ProviderName = Literal["simulator", "http", "replay"]
PROVIDER_NAMES: tuple[ProviderName, ...] = ("simulator", "http", "replay")

ProviderState = Literal["healthy", "degraded", "stale", "failing"]
SwitchReason = Literal["start", "stale", "failing", "recovered"]


@dataclass(frozen=True)
class FailoverPolicy:
    chain: tuple[str, ...]
    staleness_s: float
    hold_s: float
    failure_threshold: int

    def __post_init__(self) -> None:
        if not self.chain or len(set(self.chain)) != len(self.chain):
            raise ValueError(f"the chain must name each provider once: {self.chain}")
        if self.staleness_s <= 0 or self.hold_s < 0 or self.failure_threshold < 1:
            raise ValueError("staleness must be positive, hold not negative, threshold >= 1")


@dataclass(frozen=True)
class Switch:
    """``symbol``'s quotes come from ``to_provider`` from now on."""

    symbol: str
    from_provider: str | None
    to_provider: str
    reason: SwitchReason


@dataclass(frozen=True)
class Gap:
    """``provider`` went more than the staleness without quoting ``symbol``."""

    provider: str
    symbol: str


@dataclass(frozen=True)
class Offer:
    """What became of the symbols a provider offered quotes for."""

    admitted: frozenset[str]
    switches: tuple[Switch, ...]
    gaps: tuple[Gap, ...]


@dataclass(frozen=True)
class ProviderHealth:
    name: str
    rank: int
    state: ProviderState
    active_symbols: tuple[str, ...]
    quoted_symbols: int
    fresh_symbols: int
    last_quote_age_s: float | None
    last_latency_s: float | None
    gaps: int
    errors: int
    consecutive_errors: int
    uptime_ratio: float

    @property
    def role(self) -> Literal["active", "standby"]:
        return "active" if self.active_symbols else "standby"


@dataclass
class _SymbolFeed:
    last_quote_at: float
    steady_since: float
    # The silence that started after last_quote_at was counted as a gap already.
    gap_counted: bool = False


@dataclass
class _Provider:
    name: str
    rank: int
    feeds: dict[str, _SymbolFeed] = field(default_factory=dict)
    consecutive_errors: int = 0
    errors: int = 0
    last_error_at: float | None = None
    gaps: int = 0
    last_quote_at: float | None = None
    last_latency_s: float | None = None
    up_s: float = 0.0
    # The latest time any of its feeds stays fresh until (valid while not failing).
    fresh_until: float | None = None


class FeedSupervisor:
    """The chain's state; every method takes ``now`` (monotonic seconds) instead of a clock."""

    def __init__(self, policy: FailoverPolicy, *, now: float) -> None:
        self.policy = policy
        self.started_at = now
        self._accounted_at = now
        self._providers = {
            name: _Provider(name=name, rank=rank) for rank, name in enumerate(policy.chain)
        }
        self._active: dict[str, str] = {}

    # --- events ---

    def offer(
        self, provider: str, symbols: Iterable[str], *, now: float, latency_s: float | None = None
    ) -> Offer:
        """``provider`` delivers a valid quote of each of ``symbols`` (a success: its run of
        errors ends); which of them may be published, and what switched on the way."""
        source = self._provider(provider)
        self._account(now)
        source.consecutive_errors = 0
        source.last_quote_at = now
        if latency_s is not None:
            source.last_latency_s = max(0.0, latency_s)
        gaps: list[Gap] = []
        switches: list[Switch] = []
        admitted: set[str] = set()
        for symbol in dict.fromkeys(symbols):
            if self._observe(source, symbol, now):
                gaps.append(Gap(provider, symbol))
            switch = self._decide(symbol, now)
            if switch is not None:
                switches.append(switch)
            if self._active.get(symbol) == provider:
                admitted.add(symbol)
        self._refresh_fresh_until(source)
        return Offer(frozenset(admitted), tuple(switches), tuple(gaps))

    def failed(self, provider: str, *, now: float) -> None:
        """``provider`` delivered something unusable (an error)."""
        source = self._provider(provider)
        self._account(now)
        source.consecutive_errors += 1
        source.errors += 1
        source.last_error_at = now

    def tick(self, now: float) -> tuple[Gap, ...]:
        """Let time pass: count silences that became gaps, account uptime."""
        self._account(now)
        gaps: list[Gap] = []
        for provider in self._providers.values():
            for symbol, feed in provider.feeds.items():
                if not feed.gap_counted and now - feed.last_quote_at > self.policy.staleness_s:
                    feed.gap_counted = True
                    provider.gaps += 1
                    gaps.append(Gap(provider.name, symbol))
        return tuple(gaps)

    # --- reading ---

    def active(self, symbol: str) -> str | None:
        return self._active.get(symbol)

    def health(self, now: float) -> list[ProviderHealth]:
        """Every provider of the chain, in chain order."""
        self._account(now)
        elapsed = now - self.started_at
        active_by_provider: dict[str, list[str]] = {}
        for symbol, holder in sorted(self._active.items()):
            active_by_provider.setdefault(holder, []).append(symbol)
        report = []
        for provider in self._providers.values():
            fresh = sum(1 for feed in provider.feeds.values() if self._fresh(feed, now))
            report.append(
                ProviderHealth(
                    name=provider.name,
                    rank=provider.rank,
                    state=self._state(provider, fresh),
                    active_symbols=tuple(active_by_provider.get(provider.name, ())),
                    quoted_symbols=len(provider.feeds),
                    fresh_symbols=fresh,
                    last_quote_age_s=(
                        None if provider.last_quote_at is None else now - provider.last_quote_at
                    ),
                    last_latency_s=provider.last_latency_s,
                    gaps=provider.gaps,
                    errors=provider.errors,
                    consecutive_errors=provider.consecutive_errors,
                    uptime_ratio=min(1.0, provider.up_s / elapsed) if elapsed > 0 else 0.0,
                )
            )
        return report

    # --- rules ---

    def _decide(self, symbol: str, now: float) -> Switch | None:
        current = self._active.get(symbol)
        if current is None:
            if now - self.started_at < self.policy.staleness_s:
                ranked: Sequence[_Provider] = [self._providers[self.policy.chain[0]]]
            else:
                ranked = list(self._providers.values())
            chosen = self._best(symbol, ranked, now)
            return self._switch(symbol, None, chosen, "start")
        holder = self._providers[current]
        if not self._usable(holder, symbol, now):
            others = [p for p in self._providers.values() if p.name != current]
            chosen = self._best(symbol, others, now)
            reason: SwitchReason = "failing" if self._failing(holder) else "stale"
            return self._switch(symbol, current, chosen, reason)
        better = [p for p in self._providers.values() if p.rank < holder.rank]
        steady = [p for p in better if self._steady(p, symbol, now)]
        return self._switch(symbol, current, steady[0] if steady else None, "recovered")

    def _best(self, symbol: str, ranked: Sequence[_Provider], now: float) -> _Provider | None:
        usable = [p for p in ranked if self._usable(p, symbol, now)]
        steady = [p for p in usable if self._steady(p, symbol, now)]
        preferred = steady or usable
        return preferred[0] if preferred else None

    def _switch(
        self, symbol: str, current: str | None, chosen: _Provider | None, reason: SwitchReason
    ) -> Switch | None:
        if chosen is None or chosen.name == current:
            return None
        self._active[symbol] = chosen.name
        return Switch(symbol, current, chosen.name, reason)

    def _usable(self, provider: _Provider, symbol: str, now: float) -> bool:
        feed = provider.feeds.get(symbol)
        return feed is not None and self._fresh(feed, now) and not self._failing(provider)

    def _steady(self, provider: _Provider, symbol: str, now: float) -> bool:
        if not self._usable(provider, symbol, now):
            return False
        since = provider.feeds[symbol].steady_since
        if provider.last_error_at is not None:
            since = max(since, provider.last_error_at)
        return now - since >= self.policy.hold_s

    def _fresh(self, feed: _SymbolFeed, now: float) -> bool:
        return now - feed.last_quote_at <= self.policy.staleness_s

    def _failing(self, provider: _Provider) -> bool:
        return provider.consecutive_errors >= self.policy.failure_threshold

    def _state(self, provider: _Provider, fresh: int) -> ProviderState:
        if self._failing(provider):
            return "failing"
        if fresh == 0:
            return "stale"
        return "healthy" if fresh == len(provider.feeds) else "degraded"

    # --- bookkeeping ---

    def _provider(self, name: str) -> _Provider:
        provider = self._providers.get(name)
        if provider is None:
            raise KeyError(f"{name!r} is not in the chain {self.policy.chain}")
        return provider

    def _observe(self, provider: _Provider, symbol: str, now: float) -> bool:
        """Record a quote of ``symbol``; True when it ends a silence not yet counted as a gap."""
        feed = provider.feeds.get(symbol)
        if feed is None:
            provider.feeds[symbol] = _SymbolFeed(last_quote_at=now, steady_since=now)
            return False
        new_gap = False
        if now - feed.last_quote_at > self.policy.staleness_s:
            feed.steady_since = now
            if not feed.gap_counted:
                provider.gaps += 1
                new_gap = True
        feed.last_quote_at = now
        feed.gap_counted = False
        return new_gap

    def _refresh_fresh_until(self, provider: _Provider) -> None:
        provider.fresh_until = max(
            feed.last_quote_at + self.policy.staleness_s for feed in provider.feeds.values()
        )

    def _account(self, now: float) -> None:
        """Add the time since the last event to each provider's uptime: up while it is not
        failing and at least one of its symbols is fresh. Failing changes only at events and
        freshness ends at a known time, so the sum is exact, not sampled."""
        start = self._accounted_at
        if now <= start:
            return
        for provider in self._providers.values():
            if provider.fresh_until is not None and not self._failing(provider):
                provider.up_s += max(0.0, min(now, provider.fresh_until) - start)
        self._accounted_at = now
