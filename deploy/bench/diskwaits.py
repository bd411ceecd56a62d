"""The disk's stalls as PostgreSQL meets them: ``python -m deploy.bench.diskwaits``, run beside a measurement.

Every ``STEP`` it looks at the state of each PostgreSQL process (``/proc/<pid>/stat``); a process found in
uninterruptible sleep (``D``: waiting on the disk, a commit's WAL flush above all) at every look for
``LONGEST`` or more is a stall. A commit's flush takes well under a millisecond on a disk that answers.
The kernel's I/O pressure (PSI) is no witness: a 339 ms WAL flush, with every command waiting behind it,
left no mark in it (a task waiting on the journal is not counted as waiting on I/O). It runs in a process
of its own so that the measuring client's interpreter is not shared with it. On SIGTERM it prints the
stalls as one JSON line: ``[[start, end], ...]`` on ``time.monotonic()``, the clock of the client's loop.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from pathlib import Path

STEP = 0.01  # seconds between looks
LONGEST = 0.05  # a wait seen at every look for this long is a stall
RESCAN = 0.5  # seconds between looks for new PostgreSQL processes


class StallFinder:
    """From successive looks (when, which processes were waiting on the disk): the stalls."""

    def __init__(self) -> None:
        self.found: list[tuple[float, float]] = []
        self._since: dict[int, float] = {}  # process -> the first look of its current wait
        self._last_at: float | None = None

    def look(self, at: float, waiting: set[int]) -> None:
        for pid in list(self._since):
            if pid not in waiting:
                self._ended(self._since.pop(pid))
        for pid in waiting:
            self._since.setdefault(pid, at)
        self._last_at = at

    def close(self) -> list[tuple[float, float]]:
        for since in self._since.values():
            self._ended(since)
        self._since.clear()
        return self.merged()

    def merged(self) -> list[tuple[float, float]]:
        """The stalls in order, overlapping ones (several processes waiting on one flush) as one."""
        merged: list[tuple[float, float]] = []
        for start, end in sorted(self.found):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        return merged

    def _ended(self, since: float) -> None:
        assert self._last_at is not None
        if self._last_at - since >= LONGEST - 1e-9:  # looks at 10 ms steps add up to 50 ms
            self.found.append((since, self._last_at))


def postgres_processes() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().startswith("postgres"):
                    pids.append(int(entry.name))
            except OSError:  # gone meanwhile
                continue
    return pids


def waiting_on_disk(pids: list[int]) -> set[int]:
    waiting = set()
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as stat:
                state = stat.read().rpartition(b")")[2][1:2]
        except OSError:
            continue
        if state == b"D":
            waiting.add(pid)
    return waiting


def main() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    finder = StallFinder()
    pids, scanned = postgres_processes(), time.monotonic()
    while not stop.wait(STEP):
        now = time.monotonic()
        if now - scanned > RESCAN:
            pids, scanned = postgres_processes(), now
        finder.look(now, waiting_on_disk(pids))
    sys.stdout.write(json.dumps(finder.close()) + "\n")


if __name__ == "__main__":
    main()
