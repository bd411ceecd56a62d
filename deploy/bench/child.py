"""A measurement in its own process, so that its peak RSS is its own: ``python -m deploy.bench.child
rebuild|read DSN``. Prints one JSON line.

It imports only what a rebuild needs (no pydantic, FastAPI or bus client), for both measurements."""

from __future__ import annotations

import asyncio
import json
import sys
import time

import asyncpg

from services.reporting.projections import SCHEMA, init_connection
from services.reporting.rebuild import PAGE, SELECT_LOG, gc_paused, rebuild


async def run_rebuild(dsn: str) -> dict[str, float]:
    conn = await asyncpg.connect(dsn)
    await init_connection(conn)
    try:
        started = time.perf_counter()
        stats = await rebuild(conn, "close_28th")
        return {"events": stats.events, "seconds": time.perf_counter() - started, "rate": stats.rate}
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


def peak_rss_mb() -> float:
    """This process's own peak (VmHWM). Not ``getrusage``'s ru_maxrss: Linux carries the peak of the
    process image an exec replaced into it, so a child reports its parent's peak if that was higher."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def main() -> None:
    what, dsn = sys.argv[1], sys.argv[2]
    result = asyncio.run(run_rebuild(dsn) if what == "rebuild" else run_read(dsn))
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
