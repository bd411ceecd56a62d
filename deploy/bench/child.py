"""A measurement in its own process, so that its peak RSS is its own: ``python -m deploy.bench.child
rebuild|read DSN``. Prints one JSON line.

It imports only what a rebuild needs (no pydantic, FastAPI or bus client), for both measurements."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import threading
import time
from pathlib import Path

import asyncpg

from services.reporting.projections import init_connection
from services.reporting.rebuild import PAGE, SELECT_LOG, Readers, gc_paused, rebuild
from services.reporting.tables import SCHEMA


async def run_rebuild(dsn: str) -> dict[str, float]:
    conn = await asyncpg.connect(dsn)
    await init_connection(conn)
    try:
        started = time.perf_counter()
        stats = await rebuild(conn, "close_28th", readers=Readers(dsn))
        seconds = time.perf_counter() - started
        phases = {f"{phase}_seconds": value for phase, value in stats.phases.items()}
        return {"events": stats.events, "seconds": seconds, "rate": stats.rate, **phases}
    finally:
        await conn.close()


async def run_read(dsn: str) -> dict[str, float]:
    """The baseline: the rows a rebuild reads, read and decoded (jsonb by orjson), nothing applied."""
    conn = await asyncpg.connect(dsn)
    await init_connection(conn)
    try:
        started = time.perf_counter()
        last, events = 0, 0
        high = await conn.fetchval(f"SELECT coalesce(max(seq), 0) FROM {SCHEMA}.event_log")
        with gc_paused():  # as the rebuild reads: like for like
            while last < high:
                rows = await conn.fetch(f"{SELECT_LOG} WHERE seq > $1 ORDER BY seq LIMIT $2", last, PAGE)
                if not rows:
                    break
                for row in rows:  # every field taken out, as a rebuild unpacks each row
                    tuple(row)
                events += len(rows)
                last = rows[-1]["seq"]
        seconds = time.perf_counter() - started
        return {"events": events, "seconds": seconds, "rate": events / seconds}
    finally:
        await conn.close()


def peak_rss_mb(pid: int | str = "self") -> float:
    """A process's own peak (VmHWM). Not ``getrusage``'s ru_maxrss: Linux carries the peak of the process
    image an exec replaced into it, so a child reports its parent's peak if that was higher."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM in /proc/{pid}/status")


class ChildrenPeaks:
    """The peaks of this process's children (a rebuild's readers), read every ``STEP`` s while they run:
    a child's status is gone once it exits, so its last reading stands for its peak."""

    STEP = 0.05

    def __init__(self) -> None:
        self.peaks: dict[int, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> ChildrenPeaks:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join()

    def _watch(self) -> None:
        me = os.getpid()
        while not self.stop.wait(self.STEP):
            with contextlib.suppress(OSError):  # the list needs a kernel built with CONFIG_PROC_CHILDREN
                children = Path(f"/proc/{me}/task/{me}/children").read_text().split()
                for pid in map(int, children):
                    with contextlib.suppress(OSError, RuntimeError):
                        self.peaks[pid] = peak_rss_mb(pid)

    @property
    def total_mb(self) -> float:
        return sum(self.peaks.values())


def main() -> None:
    what, dsn = sys.argv[1], sys.argv[2]
    with ChildrenPeaks() as children:
        result = asyncio.run(run_rebuild(dsn) if what == "rebuild" else run_read(dsn))
    result["peak_rss_mb"] = peak_rss_mb() + children.total_mb  # a rebuild's readers count too
    print(json.dumps(result))


if __name__ == "__main__":
    main()
