"""R9: rebuilding projections from reporting's event log, checking them, and as-of snapshots.

A rebuild fills fresh tables in schema ``reporting_build`` from the log (in chunks, committed with its
progress so an interrupted rebuild can resume from a position; ``Readers``, processes of their own, read
and aggregate the chunks' slices on every core), then swaps them in with one transaction: it takes the log
lock exclusively (consumers wait at the start of their next batch), applies what was logged meanwhile,
drops the live tables and moves the fresh ones into ``reporting``. A reader sees the old tables or the new
ones, never a half-built one.

The rows kept per order and per shipment are copied per slice and merged once at the end (``parts.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import multiprocessing
import os
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from services.reporting.bulk import LOG_LOCK, add_statements
from services.reporting.parts import (
    PARTS,
    UNSYNCED,
    UNSYNCED_HERE,
    copy_parts,
    create_parts_table,
    drop_parts,
    forget_parts_from,
    merge_parts,
)
from services.reporting.periods import PeriodMode
from services.reporting.projections import analyze, bump_version, create_projection, init_connection
from services.reporting.projector import LOGGED_COLUMNS, Projector
from services.reporting.tables import (
    BUILD_SCHEMA,
    PROJECTIONS,
    SALES_TABLES,
    SCHEMA,
)

CHUNK = 10_000  # events per commit of the build tables with their progress (at most what a resume repeats)
PAGE = 500  # rows per read of a rebuild (one page applied while the next is read; see build)
AS_OF_PAGE = 5_000  # rows per read of an as-of snapshot
Progress = Callable[[int, int, float], None]
SELECT_LOG = f"SELECT {LOGGED_COLUMNS} FROM {SCHEMA}.event_log"


# A rebuild's phases: reading, aggregating and adding the chunks; merging their parts (and keeping the unpaid
# receivables); catching up and swapping the tables in; analyzing them. The benchmark shows their seconds.
PHASES = ("chunks", "merge", "swap", "analyze")


@dataclass
class RebuildStats:
    projections: list[str]
    events: int = 0
    seconds: float = 0.0
    high_water: int = 0
    caught_up: int = 0
    differences: dict[str, dict[str, int]] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)  # seconds of each of ``PHASES`` it went through

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    @property
    def equal(self) -> bool:
        return all(d["missing"] == 0 and d["extra"] == 0 for d in self.differences.values())


def selected(only: Iterable[str] | None) -> list[str]:
    names = list(only) if only else list(PROJECTIONS)
    unknown = sorted(set(names) - set(PROJECTIONS))
    if unknown:
        raise ValueError(f"unknown projection(s) {unknown}; known: {sorted(PROJECTIONS)}")
    if set(names) & set(SALES_TABLES):  # a cancellation reads orders and writes every sales table
        names += [name for name in SALES_TABLES if name not in names]
    return names


async def _fresh_build_tables(conn: asyncpg.Connection, names: list[str]) -> None:
    async with conn.transaction():
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {BUILD_SCHEMA}")
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {SCHEMA}.rebuild_progress "
            "(projection text PRIMARY KEY, seq bigint NOT NULL)"
        )
        for name in names:
            await conn.execute(f"DROP TABLE IF EXISTS {BUILD_SCHEMA}.{name}")
            await create_projection(conn, BUILD_SCHEMA, name)
            await conn.execute(
                f"INSERT INTO {SCHEMA}.rebuild_progress VALUES ($1, 0) "
                "ON CONFLICT (projection) DO UPDATE SET seq = 0",
                name,
            )
            if name in PARTS:
                await create_parts_table(conn, name)


async def _resume_position(conn: asyncpg.Connection, names: list[str], start: int) -> None:
    """Resuming continues exactly where the interrupted rebuild committed: its build tables hold the
    events up to that log sequence, so starting anywhere else would count events twice or miss some."""
    for name in names:
        if await conn.fetchval("SELECT to_regclass($1)", f"{BUILD_SCHEMA}.{name}") is None:
            raise ValueError(f"no interrupted rebuild of {name} to resume; rebuild without --from-position")
        done = await conn.fetchval(f"SELECT seq FROM {SCHEMA}.rebuild_progress WHERE projection = $1", name)
        if done != start:
            raise ValueError(
                f"the interrupted rebuild of {name} stopped at log position {done}; resume from there"
            )
        if name in PARTS:  # the parts of the chunks it had not committed
            await forget_parts_from(conn, name, start)


async def build(
    conn: asyncpg.Connection,
    mode: PeriodMode,
    only: Iterable[str] | None = None,
    from_position: int = 0,
    progress: Progress | None = None,
    chunk: int = CHUNK,
    readers: Readers | None = None,
) -> RebuildStats:
    """Fill ``reporting_build`` from the log up to the current high-water mark (from ``from_position``, the
    log sequence an interrupted rebuild had reached, when resuming): chunk after chunk, each committed
    with the position it reaches. ``readers``: processes that read and aggregate slices of each chunk,
    several at once, while this one adds what they aggregated; without them this one does it all."""
    names = selected(only)
    stats = RebuildStats(projections=names)
    if from_position:
        await _resume_position(conn, names, from_position)
    else:
        await _fresh_build_tables(conn, names)
    async with conn.transaction():
        # Under the exclusive lock no batch is half-logged: every seq up to the mark is committed.
        await conn.execute("SELECT pg_advisory_xact_lock($1)", LOG_LOCK)
        stats.high_water = await conn.fetchval(f"SELECT coalesce(max(seq), 0) FROM {SCHEMA}.event_log")
    total = 0  # only a progress report needs it; counting a long log takes a while
    if progress:
        total = await conn.fetchval(
            f"SELECT count(*) FROM {SCHEMA}.event_log WHERE seq > $1 AND seq <= $2",
            from_position,
            stats.high_water,
        )
    started = time.perf_counter()
    chunks = _ranges(from_position, stats.high_water, chunk)
    if readers is None:
        done = _aggregated_here(conn, Projector(mode, only=frozenset(names)), chunks)
    else:
        done = readers.aggregated(mode, names, chunks)
    async with contextlib.aclosing(done):  # a failed commit stops the readers at once
        async for last, (events, upserts) in done:
            async with conn.transaction():  # the chunk with the position it reaches: a resume starts there
                await conn.execute(UNSYNCED_HERE)
                await add_statements(conn, BUILD_SCHEMA, upserts)
                await conn.execute(
                    f"UPDATE {SCHEMA}.rebuild_progress SET seq = $2 WHERE projection = ANY($1::text[])",
                    names,
                    last,
                )
            stats.events += events
            if progress:
                progress(stats.events, total, time.perf_counter() - started)
    stats.phases["chunks"] = time.perf_counter() - started
    await merge_parts(conn, names, readers)
    stats.seconds = time.perf_counter() - started
    stats.phases["merge"] = stats.seconds - stats.phases["chunks"]
    return stats


# Events counted, and ``Projector.upserts`` of what they aggregate to.
Aggregated = tuple[int, list[tuple[str, list[Any]]]]


def _ranges(after: int, up_to: int, size: int) -> list[tuple[int, int]]:
    """(``after``, ``up_to``] as ranges of ``size`` log sequences."""
    return [(low, min(low + size, up_to)) for low in range(after, up_to, max(size, 1))]


async def _aggregated_here(
    conn: asyncpg.Connection, projector: Projector, chunks: list[tuple[int, int]]
) -> AsyncGenerator[tuple[int, Aggregated], None]:
    for after, up_to in chunks:
        events = await aggregate(conn, projector, after, up_to)
        await copy_parts(conn, projector, after)
        yield up_to, (events, projector.upserts())


async def aggregate(conn: asyncpg.Connection, projector: Projector, after: int, up_to: int) -> int:
    """Apply the log's events in (``after``, ``up_to``] to ``projector``; how many there were."""
    events = 0

    def next_page(after: int) -> asyncio.Future[list[asyncpg.Record]]:
        return asyncio.ensure_future(
            conn.fetch(f"{SELECT_LOG} WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3", after, up_to, PAGE)
        )

    fetching: asyncio.Future[list[asyncpg.Record]] | None = next_page(after)
    try:
        with gc_paused():
            while fetching is not None:
                rows = await fetching
                fetching = None
                if len(rows) == PAGE:
                    # The server selects and sends the next page (its jsonb out is half of a page's cost)
                    # on the other core while this one is applied; pages small enough to fit the socket's
                    # buffers, so that it is not held up half-way.
                    fetching = next_page(rows[-1]["seq"])
                    await asyncio.sleep(0)  # the request goes out before the CPU-bound apply
                projector.apply_rows(rows)
                events += len(rows)
    finally:
        if fetching is not None and not fetching.done():  # failed mid-way: the connection must be free
            fetching.cancel()
            with contextlib.suppress(asyncio.CancelledError, asyncpg.PostgresError):
                await fetching
    return events


@dataclass(frozen=True)
class Readers:
    """Slices of a rebuild's chunks read and aggregated several at once (``count`` slices a chunk): one by
    this process, the others by processes of their own, each on a connection made with ``dsn``. Reading
    and applying the log is one core's work; the upserts of a chunk's slices, added in log order, give what
    one projector of the whole chunk would (``add_statements``)."""

    dsn: str
    # One per core, at least two; at most eight, each process but this one ~45 MB of its own.
    count: int = min(8, max(2, os.cpu_count() or 1))

    async def aggregated(
        self, mode: PeriodMode, names: list[str], chunks: list[tuple[int, int]]
    ) -> AsyncGenerator[tuple[int, Aggregated], None]:
        """Each chunk's last sequence and what its events aggregate to, chunk after chunk; each chunk in
        ``count`` slices, and up to two chunks' slices at work at a time, so that no reader waits for the
        commit of a chunk. This process aggregates the first slice of each (between commits: its own
        work is mostly the server's) rather than leave a core to one more process and its memory."""
        loop = asyncio.get_running_loop()
        here, turn = _Reader(self.dsn), asyncio.Lock()  # this process's slices, one at a time

        async def here_slice(after: int, up_to: int) -> Aggregated:
            async with turn:
                return await here.slice(mode, names, after, up_to)

        # Spawned, not forked: a fork would carry this process's running event loop and connections.
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max(1, self.count - 1), mp_context=spawn) as pool:
            started: deque[tuple[int, list[asyncio.Future[Aggregated]]]] = deque()
            try:
                for after, chunk_end in chunks:
                    size = -(-(chunk_end - after) // self.count)
                    first, *others = _ranges(after, chunk_end, size)
                    slices = [
                        asyncio.ensure_future(here_slice(*first)),
                        *(
                            loop.run_in_executor(pool, _aggregate_slice, self.dsn, mode, names, *part)
                            for part in others
                        ),
                    ]
                    started.append((chunk_end, slices))
                    if len(started) == 2:
                        yield await _chunk_done(*started.popleft())
                while started:
                    yield await _chunk_done(*started.popleft())
            finally:
                for _, pending in started:
                    for work in pending:
                        work.cancel()
                async with turn:  # a cancelled slice of this process has let its connection go
                    await here.close()


async def _chunk_done(chunk_end: int, slices: list[asyncio.Future[Aggregated]]) -> tuple[int, Aggregated]:
    events, upserts = 0, []
    for counted, found in await asyncio.gather(*slices):  # in log order
        events += counted
        upserts += found
    return chunk_end, (events, upserts)


@dataclass
class _Reader:
    """A reader's connection, kept from one slice to the next: a connection and its codecs cost tens of
    milliseconds, and a large rebuild reads hundreds of slices."""

    dsn: str
    conn: asyncpg.Connection | None = None

    async def slice(self, mode: PeriodMode, names: list[str], after: int, up_to: int) -> Aggregated:
        """The log's (``after``, ``up_to``] aggregated."""
        if self.conn is None or self.conn.is_closed():
            self.conn = await asyncpg.connect(self.dsn, server_settings=UNSYNCED)
            await init_connection(self.conn)
        projector = Projector(mode, only=frozenset(names))
        events = await aggregate(self.conn, projector, after, up_to)
        await copy_parts(self.conn, projector, after)
        return events, projector.upserts()

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()


_process_reader: tuple[asyncio.AbstractEventLoop, _Reader] | None = None


def _aggregate_slice(dsn: str, mode: PeriodMode, names: list[str], after: int, up_to: int) -> Aggregated:
    """In a reader process: a slice aggregated on its event loop and connection."""
    global _process_reader
    if _process_reader is None:
        _process_reader = (asyncio.new_event_loop(), _Reader(dsn))
    loop, reader = _process_reader
    return loop.run_until_complete(reader.slice(mode, names, after, up_to))


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off while pages are read and applied. Their rows form no cycles
    (reference counting frees them), yet each page's tens of thousands of new containers set off
    collections that scan them again and again: a quarter of a replay's CPU."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


async def _catch_up(conn: asyncpg.Connection, stats: RebuildStats, mode: PeriodMode) -> None:
    """Inside the swap transaction, with the log lock held: apply what was logged since the mark."""
    rows = await conn.fetch(f"{SELECT_LOG} WHERE seq > $1 ORDER BY seq", stats.high_water)
    projector = Projector(mode, only=frozenset(stats.projections))
    projector.apply_rows(rows)
    await projector.flush(conn, BUILD_SCHEMA)
    stats.caught_up = len(rows)


REBUILD_LOCK = LOG_LOCK + 2


@contextlib.asynccontextmanager
async def _only_one(conn: asyncpg.Connection) -> AsyncIterator[None]:
    """One rebuild or verify at a time: they share the build tables."""
    if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", REBUILD_LOCK):
        raise ValueError("another rebuild or verify is running")
    try:
        yield
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", REBUILD_LOCK)


async def rebuild(
    conn: asyncpg.Connection,
    mode: PeriodMode,
    only: Iterable[str] | None = None,
    from_position: int = 0,
    progress: Progress | None = None,
    readers: Readers | None = None,
) -> RebuildStats:
    """Rebuild and swap the rebuilt tables in, in one transaction."""
    async with _only_one(conn):
        return await _rebuild(conn, mode, only, from_position, progress, readers)


async def _rebuild(
    conn: asyncpg.Connection,
    mode: PeriodMode,
    only: Iterable[str] | None,
    from_position: int,
    progress: Progress | None,
    readers: Readers | None,
) -> RebuildStats:
    stats = await build(conn, mode, only, from_position, progress, readers=readers)
    started = time.perf_counter()
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", LOG_LOCK)
        await _catch_up(conn, stats, mode)
        for name in stats.projections:
            await conn.execute(f"DROP TABLE IF EXISTS {SCHEMA}.{name}")
            await conn.execute(f"ALTER TABLE {BUILD_SCHEMA}.{name} SET SCHEMA {SCHEMA}")
        await drop_parts(conn, stats.projections)
        await bump_version(conn)
        await conn.execute(
            f"DELETE FROM {SCHEMA}.rebuild_progress WHERE projection = ANY($1::text[])", stats.projections
        )
    swapped = time.perf_counter()
    await analyze(conn)  # the swapped-in tables come without planner statistics
    stats.phases["swap"], stats.phases["analyze"] = swapped - started, time.perf_counter() - swapped
    return stats


async def verify(
    conn: asyncpg.Connection,
    mode: PeriodMode,
    only: Iterable[str] | None = None,
    progress: Progress | None = None,
    readers: Readers | None = None,
) -> RebuildStats:
    """Rebuild into ``reporting_build`` and compare with the live tables row for row (no swap)."""
    async with _only_one(conn):
        return await _verify(conn, mode, only, progress, readers)


async def _verify(
    conn: asyncpg.Connection,
    mode: PeriodMode,
    only: Iterable[str] | None,
    progress: Progress | None,
    readers: Readers | None,
) -> RebuildStats:
    stats = await build(conn, mode, only, 0, progress, readers=readers)
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", LOG_LOCK)
        await _catch_up(conn, stats, mode)
        for name in stats.projections:
            live, built = f"{SCHEMA}.{name}", f"{BUILD_SCHEMA}.{name}"
            stats.differences[name] = {
                "live_rows": await conn.fetchval(f"SELECT count(*) FROM {live}"),
                "rebuilt_rows": await conn.fetchval(f"SELECT count(*) FROM {built}"),
                "missing": await conn.fetchval(
                    f"SELECT count(*) FROM (TABLE {live} EXCEPT ALL TABLE {built}) x"
                ),
                "extra": await conn.fetchval(
                    f"SELECT count(*) FROM (TABLE {built} EXCEPT ALL TABLE {live}) x"
                ),
            }
    async with conn.transaction():
        await drop_parts(conn, stats.projections)
        for name in stats.projections:
            await conn.execute(f"DROP TABLE IF EXISTS {BUILD_SCHEMA}.{name}")
        await conn.execute(
            f"DELETE FROM {SCHEMA}.rebuild_progress WHERE projection = ANY($1::text[])", stats.projections
        )
    return stats


@contextlib.asynccontextmanager
async def as_of_snapshot(conn: asyncpg.Connection, as_of: datetime, mode: PeriodMode) -> AsyncIterator[str]:
    """Temporary projection tables (schema ``pg_temp``) built from the events that had occurred by
    ``as_of``; yields the schema to query. They vanish with the transaction."""
    async with conn.transaction():
        for name in PROJECTIONS:
            await create_projection(conn, "pg_temp", name, temporary=True)
        projector = Projector(mode)
        last = 0
        while True:
            rows = await conn.fetch(
                f"{SELECT_LOG} WHERE occurred_at <= $1 AND seq > $2 ORDER BY seq LIMIT $3",
                as_of,
                last,
                AS_OF_PAGE,
            )
            if not rows:
                break
            projector.apply_rows(rows)
            last = rows[-1]["seq"]
        await projector.flush(conn, "pg_temp")
        yield "pg_temp"
