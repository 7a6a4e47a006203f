"""One stream client's trade updates in account-sequence order, each once, across a resume.

The orders service numbers an account's trade updates 1, 2, 3, … in commit order and keeps the
newest of them. Live updates reach the gateway at least once and, across orders processes, not
always in order; a client that reconnects names the last number it saw (``resume_after``). The
feed decides, update by update, what the client gets so that it sees every number once, in
order, with no gap:

- **Live, nothing to resume**: the first live update sets where the client stands; then each
  next number is delivered, a number already delivered is dropped (a redelivery), and a number
  further on means some were missed in between: the feed holds it and asks for a catch-up.
- **Catching up** (a resume, or a gap): live updates are held while the gateway reads the
  account's updates after the last one delivered, page by page (``backlog``); each page's are
  delivered in order, then the held ones that follow without a gap (the ones the read already
  covered are dropped: the seam). If the held ones still leave a gap (updates committed after
  the read and still on their way), the gateway reads again. If the updates after the last
  delivered are no longer kept, the client gets a snapshot instead (``snapshot``), and the
  numbers go on from the snapshot's.

Catching up never loses anything the feed holds back: every update that reached the gateway was
committed, so a read after it finds it again (hence held updates may be dropped beyond a bound).
Updates without a number (events from before numbering, advisory ``pending_*`` frames) pass
through as they come. Frames are pre-serialized JSON; the feed never looks inside them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class FeedStep:
    """What to send the client now, in this order."""

    deliver: tuple[str, ...] = ()


_NOTHING = FeedStep()


@dataclass
class TradeUpdateFeed:
    """The feed of one client of one account (pure state; the stream hub does the reads)."""

    max_held: int = 1000
    """Live updates held while catching up; beyond it they are dropped and read again."""
    last: int | None = None
    """The last number delivered (or the one the client resumed after); None: not known yet."""
    catching_up: bool = False
    epoch: int = 0
    """Changes with every (re)start, so a read begun for an earlier subscription is ignored."""
    _held: dict[int, str] = field(default_factory=dict)
    _dropped_held: bool = False
    _read_due: bool = False

    # --- the client's subscription ---

    def start(self, resume_after: int | None) -> None:
        """The client subscribed to trade updates, resuming after a number or from now."""
        self.epoch += 1
        self._held.clear()
        self._dropped_held = False
        self.last = resume_after
        self.catching_up = self._read_due = resume_after is not None

    def stop(self) -> None:
        """The client unsubscribed: nothing is delivered or read until it starts again."""
        self.start(None)

    @property
    def read_due(self) -> bool:
        return self._read_due

    def take_read(self) -> int | None:
        """If a read is due, the number to read after (and it is no longer due)."""
        if not self._read_due:
            return None
        self._read_due = False
        return self.last

    # --- what arrives ---

    def offer(self, sequence: int | None, frame: str) -> FeedStep:
        """A live update; ``sequence`` None if it has no number."""
        if sequence is None:
            return FeedStep((frame,))
        if self.catching_up:
            assert self.last is not None
            if sequence > self.last:
                self._hold(sequence, frame)
            return _NOTHING
        if self.last is None or sequence == self.last + 1:
            self.last = sequence
            return FeedStep((frame,))
        if sequence <= self.last:
            return _NOTHING  # delivered already: a redelivery
        self._hold(sequence, frame)
        self.catching_up = self._read_due = True
        return _NOTHING

    def backlog(self, updates: Sequence[tuple[int, str]], *, has_more: bool) -> FeedStep:
        """A page of the account's kept updates after the last delivered, in number order."""
        if not self.catching_up:
            return _NOTHING
        assert self.last is not None
        deliver: list[str] = []
        for sequence, frame in updates:
            if sequence <= self.last:
                continue
            if sequence != self.last + 1:
                # Kept updates never have gaps, but one could be pruned between two pages:
                # read again, and the next read says whether to resume or to snapshot.
                self._read_due = True
                return FeedStep(tuple(deliver))
            deliver.append(frame)
            self.last = sequence
        if has_more:
            self._read_due = True
            return FeedStep(tuple(deliver))
        return FeedStep((*deliver, *self._release_held()))

    def snapshot(self, last_sequence: int, frame: str) -> FeedStep:
        """The updates after the last delivered are no longer kept: the client gets where the
        account stands (``frame``), as of ``last_sequence``, and the numbers after it."""
        if not self.catching_up:
            return _NOTHING
        self.last = last_sequence
        return FeedStep((frame, *self._release_held()))

    # --- internals ---

    def _hold(self, sequence: int, frame: str) -> None:
        if len(self._held) >= self.max_held and sequence not in self._held:
            self._held.clear()
            self._dropped_held = True
        self._held[sequence] = frame

    def _release_held(self) -> list[str]:
        """After a complete read: the held updates that follow without a gap; read again if a
        gap remains (or held updates were dropped), else the catch-up is over."""
        assert self.last is not None
        released: list[str] = []
        for sequence in sorted(self._held):
            if sequence <= self.last:
                del self._held[sequence]
            elif sequence == self.last + 1:
                released.append(self._held.pop(sequence))
                self.last = sequence
            else:
                break
        if self._held or self._dropped_held:
            self._dropped_held = False
            self._read_due = True
        else:
            self.catching_up = False
        return released
