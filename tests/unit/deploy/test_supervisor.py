"""`make run`'s supervisor: a service that exits is started again after a growing delay, one that
ran long enough starts over at the shortest delay, and stopping stops everything."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "deploy" / "local"))
from supervisor import Backoff, Supervisor


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def exits_at_once() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])


def runs_until_stopped() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def test_the_delay_doubles_with_each_exit_in_a_row_up_to_a_cap() -> None:
    backoff = Backoff(initial_s=1, max_s=30)
    assert [backoff.delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


def test_an_exited_service_is_started_again_after_its_delay_and_not_before() -> None:
    clock = Clock()
    supervisor = Supervisor(Backoff(initial_s=1, max_s=30, stable_after_s=60), clock)
    first = supervisor.start("orders", exits_at_once)
    first.wait(10)

    supervisor.tick()  # notices the exit at t=0: restart due at t=1
    clock.now = 0.9
    supervisor.tick()
    assert supervisor.processes()["orders"] is first

    clock.now = 1.0
    supervisor.tick()
    second = supervisor.processes()["orders"]
    assert second is not first
    second.wait(10)

    supervisor.tick()  # the second exit in a row, at t=1: due at t=3
    clock.now = 2.9
    supervisor.tick()
    assert supervisor.processes()["orders"] is second
    clock.now = 3.0
    supervisor.tick()
    assert supervisor.processes()["orders"] is not second
    supervisor.stop_all()


def test_a_service_that_ran_long_enough_is_restarted_after_the_shortest_delay() -> None:
    clock = Clock()
    supervisor = Supervisor(Backoff(initial_s=1, max_s=30, stable_after_s=60), clock)
    supervisor.start("orders", exits_at_once).wait(10)
    supervisor.tick()  # first exit at t=0
    clock.now = 1.0
    supervisor.tick()  # restarted at t=1; another exit in a row would wait 2 s
    restarted = supervisor.processes()["orders"]
    restarted.wait(10)
    clock.now = 100.0  # ...but it is noticed 99 s after its start: it counts as a healthy run
    supervisor.tick()
    clock.now = 100.9
    supervisor.tick()
    assert supervisor.processes()["orders"] is restarted
    clock.now = 101.0
    supervisor.tick()
    assert supervisor.processes()["orders"] is not restarted
    supervisor.stop_all()


def test_stopping_stops_every_service_and_restarts_none() -> None:
    supervisor = Supervisor(Backoff(initial_s=0, max_s=0), Clock())
    for index in range(3):
        supervisor.start(f"service-{index}", runs_until_stopped)
    processes = list(supervisor.processes().values())
    supervisor.stop_all(timeout_s=10)
    assert all(process.returncode is not None for process in processes)
    supervisor.tick()  # nothing is restarted after a stop
    assert list(supervisor.processes().values()) == processes
