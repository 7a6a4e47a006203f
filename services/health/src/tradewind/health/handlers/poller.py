"""The background poller: every interval, check every service and dependency at once."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from prometheus_client import Gauge

from tradewind.common.contracts.types import utc_now
from tradewind.common.tasks import start_supervised
from tradewind.health.adapters.probes import DependencyCheck, ServiceProbe, observe_dependency
from tradewind.health.adapters.queues import QueueReader
from tradewind.health.domain.backlogs import BacklogPolicy, LagHistory, assess
from tradewind.health.domain.readings import QueueObservation, QueueReading, WatchedQueue
from tradewind.health.domain.status import (
    GAUGE_VALUE,
    Observation,
    Status,
    StatusBoard,
    TargetKind,
    Transition,
)

log = logging.getLogger(__name__)

SERVICE_UP = Gauge(
    "tradewind_service_up",
    "Readiness of a watched service: 1 up, 0.5 degraded, 0 down or unreachable.",
    ["service"],
)
DEPENDENCY_UP = Gauge(
    "tradewind_dependency_up",
    "Reachability of a dependency checked by the health service: 1 up, 0 down.",
    ["dependency"],
)


class PollerStalled(Exception):
    """The poller has not finished a round recently: the status it shows is out of date."""


class Poller:
    def __init__(
        self,
        board: StatusBoard,
        services: Mapping[str, ServiceProbe],
        dependencies: Mapping[str, DependencyCheck],
        *,
        interval_s: float,
        timeout_s: float,
        queues: Mapping[str, Sequence[WatchedQueue]] | None = None,
        queue_reader: QueueReader | None = None,
        policy: BacklogPolicy | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.board = board
        self.services = dict(services)
        self.dependencies = dict(dependencies)
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.queues = {name: tuple(watched) for name, watched in (queues or {}).items()}
        self.queue_reader = queue_reader
        self.policy = policy or BacklogPolicy()
        self._lags = LagHistory(self.policy)
        self._clock = clock
        self._last_round_finished: float | None = None
        self._task: asyncio.Task[None] | None = None

    async def poll_once(self) -> None:
        """Check everything concurrently, then record the round at one instant."""
        service_names = list(self.services)
        dependency_names = list(self.dependencies)
        observations, queue_readings = await asyncio.gather(
            asyncio.gather(
                *(self._observe_service(name) for name in service_names),
                *(
                    observe_dependency(self.dependencies[name], timeout_s=self.timeout_s)
                    for name in dependency_names
                ),
            ),
            self._read_queues(),
        )
        at = self._clock()
        service_observations = observations[: len(service_names)]
        dependency_observations = observations[len(service_names) :]
        for name, reported in zip(service_names, service_observations, strict=True):
            observation = self._with_work(name, reported, queue_readings)
            self._record(TargetKind.SERVICE, name, observation, at)
            SERVICE_UP.labels(service=name).set(GAUGE_VALUE[observation.status])
        for name, observation in zip(dependency_names, dependency_observations, strict=True):
            self._record(TargetKind.DEPENDENCY, name, observation, at)
            DEPENDENCY_UP.labels(dependency=name).set(GAUGE_VALUE[observation.status])
        self._last_round_finished = time.monotonic()

    async def _observe_service(self, name: str) -> Observation:
        try:
            # The probe's own HTTP timeouts bound it already; this only guards against a hang
            # outside them, so one service can never stall the whole round.
            async with asyncio.timeout(self.timeout_s * 2):
                return await self.services[name].observe()
        except TimeoutError:
            return Observation(Status.UNREACHABLE, detail=f"no answer within {self.timeout_s:g} s")
        except Exception as exc:
            log.exception("service check failed unexpectedly", extra={"target": name})
            return Observation(Status.DOWN, detail=f"check failed: {type(exc).__name__}")

    async def _read_queues(self) -> dict[str, QueueReading]:
        """Every watched queue and parking lot, in one concurrent read."""
        names = list(
            dict.fromkeys(
                name
                for watched in self.queues.values()
                for queue in watched
                for name in (queue.name, queue.parking_lot)
            )
        )
        if not names or self.queue_reader is None:
            return {}
        try:
            # Each read has its own timeout; this only guards the round against a hang outside.
            async with asyncio.timeout(self.timeout_s * 2):
                return await self.queue_reader.read(names)
        except TimeoutError:
            reading = QueueReading.unknown(f"no answer within {self.timeout_s:g} s")
        except Exception as exc:
            log.exception("reading the queues failed unexpectedly")
            reading = QueueReading.unknown(f"read failed: {type(exc).__name__}")
        return dict.fromkeys(names, reading)

    def _with_work(
        self, name: str, reported: Observation, readings: Mapping[str, QueueReading]
    ) -> Observation:
        """The service's observation with its queues, and its status judged on its work too."""
        unknown = QueueReading.unknown("not read")
        queues = tuple(
            QueueObservation(
                queue, readings.get(queue.name, unknown), readings.get(queue.parking_lot, unknown)
            )
            for queue in self.queues.get(name, ())
        )
        assessment = assess(
            reported.status,
            queues=queues,
            outbox=reported.outbox,
            lags=self._lags.add(name, reported.outbox),
            webhooks=reported.webhooks,
            policy=self.policy,
        )
        return dataclasses.replace(
            reported,
            status=assessment.status,
            queues=queues,
            reasons=assessment.reasons,
            notes=assessment.notes,
            outbox_behind=assessment.outbox_behind,
        )

    def _record(self, kind: TargetKind, name: str, observation: Observation, at: datetime) -> None:
        transition = self.board.record(kind, name, observation, at)
        if transition is not None:
            _log_transition(transition, observation)

    def start(self) -> None:
        self._task = start_supervised(self._run(), "health-poller")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _run(self) -> None:
        # Rounds start on a fixed schedule; a round that overran starts the next one at once.
        next_round = time.monotonic() + self.interval_s
        while True:
            await asyncio.sleep(max(0.0, next_round - time.monotonic()))
            next_round = max(next_round + self.interval_s, time.monotonic())
            try:
                await self.poll_once()
            except Exception:
                log.exception("polling round failed")

    async def check(self) -> None:
        """Readiness of the health service itself: its picture of the system is current."""
        if self._task is not None and self._task.done():
            raise PollerStalled("the poller has stopped")
        if self._last_round_finished is None:
            raise PollerStalled("no polling round has finished yet")
        age = time.monotonic() - self._last_round_finished
        if age > 2 * self.interval_s + 2 * self.timeout_s:
            raise PollerStalled(f"the last polling round finished {age:.1f} s ago")


def _log_transition(transition: Transition, observation: Observation) -> None:
    log.log(
        logging.INFO if transition.to_status is Status.UP else logging.WARNING,
        "%s %s: %s -> %s",
        transition.kind.value,
        transition.name,
        transition.from_status.value,
        transition.to_status.value,
        extra={
            "target": transition.name,
            "target_kind": transition.kind.value,
            "from_status": transition.from_status.value,
            "to_status": transition.to_status.value,
            "detail": observation.detail,
        },
    )
