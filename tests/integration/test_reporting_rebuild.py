"""R9: rebuild from the event log equals the live projections; as-of reports (real PostgreSQL and NATS)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from nats.aio.client import Client as NATS

from services.reporting import cli
from services.reporting import rebuild as r
from services.reporting.api import ImportHistory, SignOffPeriod
from services.reporting.history import COLUMNS
from services.reporting.main import ReportingService, open_pool
from services.reporting.tables import PROJECTIONS
from shared.settings import Settings
from tests.conftest import Requester, wait_for
from tests.integration.reporting_kit import (
    FINANCE,
    MANAGER,
    Events,
    at,
    logged_all,
    publish,
    publish_all,
    reporting_running,
    seed_month,
)

pytestmark = pytest.mark.integration

PERIOD = "2026-03"
HISTORY_HEADER = ",".join(COLUMNS) + "\n"


class Interrupted(Exception):
    """A rebuild stopped half-way (the operator's Ctrl-C, a crash)."""


@pytest.fixture(scope="module")
async def seeded(nc: NATS, settings: Settings) -> AsyncIterator[tuple[ReportingService, Events]]:
    """A month of activity of 300 distributors and 5 branches, consumed live (cancellations and credit
    notes among them), with reporting's own events: a history file imported for the two months before
    (R14), the month signed off (R1)."""
    ev = Events()
    seed_month(ev, 2026, 3, distributors=300)
    async with reporting_running(settings) as service:
        await publish_all(nc.jetstream(), settings, ev.made)
        await wait_for(lambda: logged(service, len(ev.made)), timeout=60)
        async with service.pool.acquire() as conn:
            codes = [
                r["code"] for r in await conn.fetch("SELECT code FROM reporting.customers ORDER BY code")
            ]
        lines = [
            f"{code},2026-0{m},{100 * m}.00,{50 * m}.00,{20 * m}.00,{m}" for code in codes for m in (1, 2)
        ]
        history = await service.reports.import_history(
            ImportHistory(actor=FINANCE, file_name="history.csv", content=HISTORY_HEADER + "\n".join(lines))
        )
        await service.reports.sign_off_period(SignOffPeriod(actor=MANAGER, period="2026-03"))
        own = history["imported"] + 2  # the lines, the file, the sign-off
        await wait_for(lambda: logged(service, len(ev.made) + own), timeout=60)
        yield service, ev


async def logged(service: ReportingService, total: int) -> bool:
    async with service.pool.acquire() as conn:
        return bool(await conn.fetchval("SELECT count(*) FROM reporting.event_log") >= total)


async def snapshot(service: ReportingService) -> dict[str, list[Any]]:
    async with service.pool.acquire() as conn:
        return {
            name: sorted(map(tuple, await conn.fetch(f"SELECT * FROM reporting.{name}")))
            for name in PROJECTIONS
        }


async def test_r9_verify_says_rebuild_equals_live_and_prints_the_rate(
    seeded: tuple[ReportingService, Events], settings: Settings
) -> None:
    out = io.StringIO()
    code = await cli.run(cli.parser().parse_args(["verify"]), settings, out)
    text = out.getvalue()
    assert code == 0, text
    assert "rebuild equals live row for row" in text
    assert "events/s" in text and "100.0%" in text
    assert "DIFFERENT" not in text


async def test_r9_verify_detects_a_live_table_that_drifted(
    seeded: tuple[ReportingService, Events], settings: Settings
) -> None:
    service, _ = seeded
    async with service.pool.acquire() as conn:
        key = await conn.fetchrow("SELECT customer_id, period FROM reporting.customer_period LIMIT 1")
        drift = (
            "UPDATE reporting.customer_period SET orders = orders + $3 WHERE customer_id = $1 AND period = $2"
        )
        await conn.execute(drift, key["customer_id"], key["period"], 1)
        stats = await r.verify(conn, settings.period_mode, ["customer_period"])
        await conn.execute(drift, key["customer_id"], key["period"], -1)
    assert not stats.equal
    assert stats.differences["customer_period"]["missing"] == 1
    assert stats.differences["customer_period"]["extra"] == 1


async def test_r9_rebuild_swaps_in_tables_equal_to_live_while_readers_never_see_half_a_table(
    seeded: tuple[ReportingService, Events], settings: Settings, nc: NATS, request_: Requester
) -> None:
    service, _ = seeded
    before = await snapshot(service)
    first = await request_("reporting", "query", "distributor_monthly", {"period": PERIOD})
    expected_rows = len(first["result"]["rows"])
    expected_total = sum(Decimal(row["ordered_amount"]) for row in first["result"]["rows"])
    reads: list[tuple[int, Decimal | int]] = []
    done = asyncio.Event()

    async def reader() -> None:
        while not done.is_set():
            reply = await request_("reporting", "query", "distributor_monthly", {"period": PERIOD})
            assert reply["ok"], reply
            rows = reply["result"]["rows"]
            reads.append((len(rows), sum(Decimal(row["ordered_amount"]) for row in rows)))

    reading = asyncio.create_task(reader())
    out = io.StringIO()
    code = await cli.run(cli.parser().parse_args(["rebuild"]), settings, out)
    done.set()
    await reading
    assert code == 0 and "events/s" in out.getvalue()
    print(out.getvalue().splitlines()[-1])  # the rebuild's rate, for the record
    assert await snapshot(service) == before
    assert reads and all(read == (expected_rows, expected_total) for read in reads)


async def test_r9_rebuild_while_events_keep_arriving_still_equals_live(
    seeded: tuple[ReportingService, Events], settings: Settings, nc: NATS
) -> None:
    service, ev = seeded
    more = Events()
    seed_month(more, 2026, 4, distributors=40, branches=1, seed=11)
    publishing = asyncio.create_task(publish_all(nc.jetstream(), settings, more.made, chunk=50))
    async with service.pool.acquire() as conn:
        stats = await r.rebuild(conn, settings.period_mode, ["customer_period", "customers"])
    await publishing
    await wait_for(lambda: logged(service, len(ev.made) + len(more.made)), timeout=30)
    async with service.pool.acquire() as conn:
        check = await r.verify(conn, settings.period_mode)
    assert stats.events > 0
    assert check.equal, check.differences


RESUMED = ["staff_period", "customer_period"]


@pytest.mark.parametrize("reader_processes", [None, 2], ids=["in-process", "reader-processes"])
async def test_r9_interrupted_rebuild_resumes_from_a_position(
    seeded: tuple[ReportingService, Events], settings: Settings, reader_processes: int | None
) -> None:
    """Interrupted, a rebuild has committed whole chunks with the position each reached, whether this
    process or reader processes aggregated them; resumed from there it equals the live tables."""
    service, _ = seeded
    readers = r.Readers(settings.postgres_dsn, reader_processes) if reader_processes else None

    def interrupt(done: int, total: int, seconds: float) -> None:
        if done >= 1000:
            raise Interrupted

    async with service.pool.acquire() as conn:
        with pytest.raises(Interrupted):
            await r.build(conn, settings.period_mode, RESUMED, progress=interrupt, chunk=500, readers=readers)
        reached = await conn.fetchval(
            "SELECT seq FROM reporting.rebuild_progress WHERE projection = 'staff_period'"
        )
        live = await snapshot(service)
        stats = await r.rebuild(conn, settings.period_mode, RESUMED, from_position=reached, readers=readers)
        rebuilt = await snapshot(service)
        with pytest.raises(ValueError, match="no interrupted rebuild"):
            await r.rebuild(conn, settings.period_mode, RESUMED, from_position=reached)
    assert reached >= 1000 and reached % 500 == 0  # a whole chunk's end
    assert stats.events > 0
    assert rebuilt == live


async def test_r9_reader_processes_build_chunk_by_chunk_what_the_live_tables_hold(
    seeded: tuple[ReportingService, Events], settings: Settings
) -> None:
    """Three reader processes aggregate each chunk's slices at once, several chunks in flight; their
    upserts, added in log order and committed chunk by chunk, equal the live tables row for row."""
    service, _ = seeded
    committed: list[int] = []
    async with service.pool.acquire() as conn:
        stats = await r.build(
            conn,
            settings.period_mode,
            progress=lambda done, total, seconds: committed.append(done),
            chunk=700,
            readers=r.Readers(settings.postgres_dsn, 3),
        )
        built = {
            name: sorted(map(tuple, await conn.fetch(f"SELECT * FROM reporting_build.{name}")))
            for name in PROJECTIONS
        }
        logged_events = await conn.fetchval(
            "SELECT count(*) FROM reporting.event_log WHERE seq <= $1", stats.high_water
        )
    assert stats.events == logged_events
    assert len(committed) == -(-stats.high_water // 700) > 3  # a commit a chunk
    assert built == await snapshot(service)


async def test_r9_report_as_of_a_past_moment(
    seeded: tuple[ReportingService, Events], nc: NATS, settings: Settings, request_: Requester
) -> None:
    service, _ = seeded
    ev = Events()
    dealer = ev.customer(at(2029, 1, 2), kind="dealer", code="EAST-D0900")
    ev.order(dealer, at(2029, 1, 10), [("P-1", 1, "100.00")])
    ev.order(dealer, at(2029, 1, 20), [("P-1", 2, "100.00")])
    ev.grade(dealer, at(2029, 1, 21), "A")
    await publish(nc.jetstream(), settings, ev.made)
    await wait_for(lambda: logged_all(service, ev.made))
    query = {"period": "2029-01", "customer_id": dealer}
    now = await request_("reporting", "query", "distributor_monthly", query)
    then = await request_(
        "reporting", "query", "distributor_monthly", {**query, "as_of": "2029-01-15T00:00:00+00:00"}
    )
    naive = await request_(
        "reporting", "query", "distributor_monthly", {**query, "as_of": "2029-01-15T00:00:00"}
    )
    assert [(x["orders"], x["ordered_amount"], x["grade"]) for x in now["result"]["rows"]] == [
        (2, "300.00", "A")
    ]
    assert then["result"]["as_of"] == "2029-01-15T00:00:00+00:00"
    assert [(x["orders"], x["ordered_amount"], x["grade"]) for x in then["result"]["rows"]] == [
        (1, "100.00", "B")
    ]
    assert naive["ok"] is False and naive["error"]["code"] == "invalid"


async def test_r9_a_projection_of_an_older_layout_is_rebuilt_from_the_log_at_start(
    seeded: tuple[ReportingService, Events], settings: Settings
) -> None:
    service, _ = seeded
    async with service.pool.acquire() as conn:
        before = sorted(map(tuple, await conn.fetch("SELECT * FROM reporting.staff_period")))
        await conn.execute(
            "ALTER TABLE reporting.staff_period DROP COLUMN dismissals"
        )  # as an old version made it
    pool = await open_pool(settings)
    await pool.close()
    async with service.pool.acquire() as conn:
        after = sorted(map(tuple, await conn.fetch("SELECT * FROM reporting.staff_period")))
        check = await r.verify(conn, settings.period_mode, ["staff_period"])
    assert after == before and check.equal
