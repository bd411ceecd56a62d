"""The benchmark's account of the disk's stalls (``deploy/bench/diskwaits.py``, ``deploy/bench/run.py``):
the stretches in which a PostgreSQL process waited on the disk, and which commands of the steady run met
one."""

from __future__ import annotations

import time

from deploy.bench import diskwaits
from deploy.bench.run import HostStalls


def looks(
    finder: diskwaits.StallFinder, waiting: list[set[int]], step: float = 0.01
) -> list[tuple[float, float]]:
    """One look every ``step`` seconds, each finding these processes waiting on the disk."""
    for i, pids in enumerate(waiting, start=1):
        finder.look(round(i * step, 3), pids)
    return finder.close()


def test_a_process_waiting_at_every_look_for_50_ms_or_more_is_a_stall_from_first_look_to_last() -> None:
    stalls = looks(diskwaits.StallFinder(), [set(), {7}, {7}, {7}, {7}, {7}, {7}, set(), {7}])
    assert stalls == [(0.02, 0.07)]


def test_short_waits_are_no_stall_even_back_to_back_in_different_processes() -> None:
    assert looks(diskwaits.StallFinder(), [{1}, {1}, {1}, {1}, {2}, {2}, {2}, {2}, {1}, set()] * 3) == []


def test_processes_waiting_on_one_flush_together_make_one_stall() -> None:
    waiting = [{1}, {1, 2}, {1, 2}, {1, 2}, {1, 2}, {1, 2}, {2}, {2}, {2}, set()]
    assert looks(diskwaits.StallFinder(), waiting) == [(0.01, 0.09)]


def test_a_wait_still_going_when_the_watch_ends_counts() -> None:
    assert looks(diskwaits.StallFinder(), [set()] + [{3}] * 8) == [(0.02, 0.09)]


def test_a_command_met_a_stall_when_its_wait_overlapped_one() -> None:
    stalls = HostStalls(disk=[(10.0, 10.3)])
    assert stalls.met_a_stall(9.9, 10.05)  # waiting when it began
    assert stalls.met_a_stall(10.1, 10.2)  # scheduled during it
    assert stalls.met_a_stall(9.0, 11.0)
    assert not stalls.met_a_stall(9.9, 9.99)
    assert not stalls.met_a_stall(10.3, 10.31)  # scheduled as it ended
    assert "PostgreSQL waited on the disk for 50 ms or more at a stretch once (300 ms)" in stalls.describe()
    assert "stretch 2 times (300 ms, 60 ms)" in HostStalls(disk=[(1.0, 1.06), (10.0, 10.3)]).describe()
    assert "PostgreSQL never waited on the disk" in HostStalls(disk=[]).describe()


def test_the_watcher_process_answers_sigterm_with_the_stalls_it_found() -> None:
    watch = diskwaits.start()
    time.sleep(0.3)
    stalls = diskwaits.stop(watch)
    assert watch.returncode == 0
    assert isinstance(stalls, list)
    assert all(len(stall) == 2 and stall[0] < stall[1] for stall in stalls)
