"""The benchmark's account of the disk's freezes (``deploy/bench/run.py``): the stretches in which every
task waited on the disk, and which commands of the steady run met one."""

from __future__ import annotations

from deploy.bench.run import FreezeFinder, HostStalls


def looks(finder: FreezeFinder, stalls_ms: list[float], step: float = 0.01) -> None:
    """One look every ``step`` seconds; each step the disk stalled every task for the given ms."""
    stalled = 0.0
    for i, ms in enumerate(stalls_ms, start=1):
        stalled += ms * 1000
        finder.look(i * step, round(stalled))


def test_a_stretch_of_fully_stalled_steps_of_50_ms_or_more_is_one_freeze_from_its_first_to_its_last() -> None:
    found: list[tuple[float, float]] = []
    looks(FreezeFinder(found, 0.0, 0), [1, 2, 10, 10, 9, 10, 10, 10, 1, 0, 3])
    assert len(found) == 1
    since, until = found[0]
    assert (round(since, 3), round(until, 3)) == (0.02, 0.08)


def test_ordinary_waits_for_a_flush_and_short_stalls_are_no_freeze() -> None:
    found: list[tuple[float, float]] = []
    looks(FreezeFinder(found, 0.0, 0), [2, 3, 7, 1, 10, 10, 10, 10, 2, 10, 3] * 5)
    assert found == []


def test_a_command_met_a_freeze_when_its_wait_overlapped_one() -> None:
    stalls = HostStalls(freezes=[(10.0, 10.3)])
    assert stalls.met_a_freeze(9.9, 10.05)  # waiting when it began
    assert stalls.met_a_freeze(10.1, 10.2)  # scheduled during it
    assert stalls.met_a_freeze(9.0, 11.0)
    assert not stalls.met_a_freeze(9.9, 9.99)
    assert not stalls.met_a_freeze(10.3, 10.31)  # scheduled as it ended
    assert "the disk froze once" in stalls.describe()
    assert "300 ms" in stalls.describe()
    assert "the disk never froze" in HostStalls(freezes=[]).describe()
