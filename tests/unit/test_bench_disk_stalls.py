"""The benchmark's account of the disk's stalls (``deploy/bench/diskwaits.py``, ``deploy/bench/host.py``):
the stretches in which a PostgreSQL process waited on the disk, and which commands of the steady run met
one."""

from __future__ import annotations

import time

from deploy.bench import diskwaits
from deploy.bench.host import HostStalls

STEP = diskwaits.STEP
SHORTEST = round(diskwaits.LONGEST / STEP) + 1  # looks that span LONGEST: the shortest stall
LONGEST_MS = f"{1000 * diskwaits.LONGEST:.0f} ms"


def at(i: int) -> float:
    return round(i * STEP, 3)


def looks(finder: diskwaits.StallFinder, waiting: list[set[int]]) -> list[tuple[float, float]]:
    """One look every ``STEP`` seconds (the first at ``at(1)``), each finding these processes waiting."""
    for i, pids in enumerate(waiting, start=1):
        finder.look(at(i), pids)
    return finder.close()


def test_a_process_waiting_at_every_look_for_longest_or_more_is_a_stall_from_first_look_to_last() -> None:
    stalls = looks(diskwaits.StallFinder(), [set()] + [{7}] * SHORTEST + [set(), {7}])
    assert stalls == [(at(2), at(SHORTEST + 1))]


def test_short_waits_are_no_stall_even_back_to_back_in_different_processes() -> None:
    short = SHORTEST - 1
    assert looks(diskwaits.StallFinder(), ([{1}] * short + [{2}] * short) * 3 + [set()]) == []


def test_processes_waiting_on_one_flush_together_make_one_stall() -> None:
    waiting = [{1}] + [{1, 2}] * (SHORTEST - 1) + [{2}] * 3 + [set()]
    assert looks(diskwaits.StallFinder(), waiting) == [(at(1), at(SHORTEST + 3))]


def test_a_wait_still_going_when_the_watch_ends_counts() -> None:
    assert looks(diskwaits.StallFinder(), [set()] + [{3}] * SHORTEST) == [(at(2), at(SHORTEST + 1))]


def test_only_the_processes_that_can_hold_a_commit_are_watched() -> None:
    assert diskwaits.holds_commits("postgres: 15/main: root salesops_x 127.0.0.1(40112) idle\0")
    assert diskwaits.holds_commits("postgres: 15/main: walwriter   ")
    assert diskwaits.holds_commits("postgres: walwriter ")  # a cluster without a name
    for background in ("checkpointer", "background writer", "autovacuum worker salesops_x", "archiver"):
        assert not diskwaits.holds_commits(f"postgres: 15/main: {background}")
    assert not diskwaits.holds_commits("/usr/lib/postgresql/15/bin/postgres\0-D\0/var/lib/postgresql")


def test_a_command_met_a_stall_when_its_wait_overlapped_one() -> None:
    stalls = HostStalls(disk=[(10.0, 10.3)])
    assert stalls.met_a_stall(9.9, 10.05)  # waiting when it began
    assert stalls.met_a_stall(10.1, 10.2)  # scheduled during it
    assert stalls.met_a_stall(9.0, 11.0)
    assert not stalls.met_a_stall(9.9, 9.99)
    assert not stalls.met_a_stall(10.3, 10.31)  # scheduled as it ended
    assert (
        f"PostgreSQL waited on the disk for {LONGEST_MS} or more at a stretch once (300 ms)"
        in stalls.describe()
    )
    assert "stretch 2 times (300 ms, 60 ms)" in HostStalls(disk=[(1.0, 1.06), (10.0, 10.3)]).describe()
    assert "PostgreSQL never waited on the disk" in HostStalls(disk=[]).describe()


def test_the_watcher_process_answers_sigterm_with_the_stalls_it_found() -> None:
    watch = diskwaits.start()
    time.sleep(0.3)
    stalls = diskwaits.stop(watch)
    assert watch.returncode == 0
    assert isinstance(stalls, list)
    assert all(len(stall) == 2 and stall[0] < stall[1] for stall in stalls)
