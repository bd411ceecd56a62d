"""The disk's stalls as PostgreSQL meets them: ``python -m deploy.bench.diskwaits``, run beside a measurement.

Every ``STEP`` it looks at the state of each PostgreSQL process that a commit can wait for (those serving
connections, and the WAL writer; not the checkpointer's long writes, which hold no commit): a process found
in uninterruptible sleep (``D``: waiting on the disk, a commit's WAL flush above all) at every look for
``LONGEST`` or more is a stall (with looks 5 ms apart, every stall of 25 ms or more is found, and one of
20–25 ms may be). A commit's flush takes well under a millisecond on a disk that answers; flushes stuck for
15–70 ms made part of the steady run's tail on a host where a watch looking every 20 ms for 50 ms found no
stall. Its own cost: ~2 % of a core.
The kernel's I/O pressure (PSI) is no witness: a 339 ms WAL flush, with every command waiting behind it,
left no mark in it (a task waiting on the journal is not counted as waiting on I/O). It runs in a process
of its own so that the measuring client's interpreter is not shared with it. On SIGTERM it prints the
stalls as one JSON line: ``[[start, end], ...]`` on ``time.monotonic()``, the clock of the client's loop.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

STEP = 0.005  # seconds between looks
LONGEST = 0.02  # a wait seen at every look for this long is a stall
# PostgreSQL's own background processes, by the last part of their title: none of them holds a commit.
BACKGROUND = ("checkpointer", "background writer", "archiver", "startup", "logical replication", "autovacuum")
ROOT = Path(__file__).resolve().parents[2]
RESCAN = 2.0  # seconds between looks for new PostgreSQL processes (the services connect before a run)


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
        return self._merged()

    def _merged(self) -> list[tuple[float, float]]:
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
        if self._last_at - since >= LONGEST - 1e-9:  # the looks' times are sums of floats
            self.found.append((since, self._last_at))


def holds_commits(title: str) -> bool:
    """Whether a PostgreSQL process, by its title (``/proc/<pid>/cmdline``), can hold a commit up: one
    serving a connection, or the WAL writer; not the postmaster nor a background process."""
    title = title.replace("\0", " ").strip()
    if not title.startswith("postgres:"):  # the postmaster: its command line, not a title
        return False
    role = title.rpartition(": ")[2]
    return not role.startswith(BACKGROUND)


class PostgresProcesses:
    """The state files of the PostgreSQL processes a commit can wait for, kept open: a read of an open one
    is a fraction of the cost of opening it (the watch reads every one two hundred times a second)."""

    def __init__(self) -> None:
        self._stats: dict[int, int] = {}  # pid -> open /proc/<pid>/stat

    def rescan(self) -> None:
        found = set()
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if (entry / "comm").read_text().startswith("postgres") and holds_commits(
                        (entry / "cmdline").read_text(errors="replace")
                    ):
                        found.add(int(entry.name))
                except OSError:  # gone meanwhile
                    continue
        for pid in self._stats.keys() - found:
            os.close(self._stats.pop(pid))
        for pid in found - self._stats.keys():
            with contextlib.suppress(OSError):
                self._stats[pid] = os.open(f"/proc/{pid}/stat", os.O_RDONLY)

    def waiting_on_disk(self) -> set[int]:
        waiting = set()
        for pid, stat in self._stats.items():
            try:
                state = os.pread(stat, 512, 0).rpartition(b")")[2][1:2]
            except OSError:  # gone: dropped at the next rescan
                continue
            if state == b"D":
                waiting.add(pid)
        return waiting


def start() -> subprocess.Popen[bytes]:
    """This watch, in a process of its own, until ``stop``; returns once it listens for SIGTERM (a signal
    sent before would kill it: seen on a loaded host, where starting Python took over 0.3 s)."""
    watch = subprocess.Popen(
        [sys.executable, "-m", "deploy.bench.diskwaits"], cwd=ROOT, stdout=subprocess.PIPE
    )
    assert watch.stdout is not None
    watch.stdout.readline()  # "watching"
    return watch


def stop(watch: subprocess.Popen[bytes]) -> list[tuple[float, float]] | None:
    """Ends the watch: the stalls it found, or None if it failed."""
    watch.send_signal(signal.SIGTERM)
    out, _ = watch.communicate(timeout=30)
    if watch.returncode != 0:
        return None
    return [(since, until) for since, until in json.loads(out)]


def main() -> None:
    stopped: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, _: stopped.append(signum))
    sys.stdout.write("watching\n")
    sys.stdout.flush()
    finder = StallFinder()
    processes = PostgresProcesses()
    processes.rescan()
    scanned = time.monotonic()
    while not stopped:
        time.sleep(STEP)  # a plain sleep: waiting on an event with a timeout cost twice the CPU
        now = time.monotonic()
        if now - scanned > RESCAN:
            processes.rescan()
            scanned = now
        finder.look(now, processes.waiting_on_disk())
    sys.stdout.write(json.dumps(finder.close()) + "\n")


if __name__ == "__main__":
    main()
