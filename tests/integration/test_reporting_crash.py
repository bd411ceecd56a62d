"""Exactly-once effect across a real crash: the reporting process is killed (-9) while it consumes, then
started again; the monthly figures count every event once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest
from nats.aio.client import Client as NATS

from shared.database import ensure_database
from shared.settings import Settings
from tests.conftest import wait_for
from tests.integration.reporting_kit import Events, at, publish_all

pytestmark = [pytest.mark.integration, pytest.mark.fault]

ROOT = Path(__file__).resolve().parents[2]
CUSTOMERS = 50
ORDERS_EACH = 40


def start(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SALESOPS_NAMESPACE": settings.namespace,
        "SALESOPS_POSTGRES_DB": settings.postgres_db,
        "SALESOPS_CONSUMER_BATCH_SIZE": "20",  # many small transactions: the kill lands between them
        "SALESOPS_CONSUMER_ACK_WAIT_SECONDS": "2",  # unacked messages of the killed process come back soon
        "SALESOPS_REPORTING_HTTP": "false",
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "services.reporting.main"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def test_r2_figures_are_exact_after_the_consumer_is_killed_mid_stream(
    nc: NATS, settings: Settings, tmp_path: Path
) -> None:
    ev = Events()
    customers = [ev.customer(at(2031, 6, 1), kind="dealer", code=f"KILL-D{i:04d}") for i in range(CUSTOMERS)]
    for n in range(ORDERS_EACH):
        for cid in customers:
            ev.order(cid, at(2031, 6, 2 + n % 20), [("P-1", 1, "10.00")])
    ensure_database(settings)
    await publish_all(nc.jetstream(), settings, ev.made)
    conn = await asyncpg.connect(settings.postgres_dsn)
    log = tmp_path / "reporting.log"
    process = start(settings, log)
    try:

        async def some_logged() -> bool:
            try:
                return bool(await conn.fetchval("SELECT count(*) FROM reporting.event_log") > 200)
            except asyncpg.UndefinedTableError:
                return False

        await wait_for(some_logged, timeout=30, every=0.01)
        os.kill(process.pid, signal.SIGKILL)  # no clean shutdown: unacked batches come again
        process.wait()
        at_kill = await conn.fetchval("SELECT count(*) FROM reporting.event_log")
        process = start(settings, log)

        async def all_logged() -> bool:
            return bool(await conn.fetchval("SELECT count(*) FROM reporting.event_log") == len(ev.made))

        await wait_for(all_logged, timeout=60)
        await asyncio.sleep(1.0)  # redeliveries still in flight must change nothing
        rows = await conn.fetch(
            "SELECT orders, ordered_amount FROM reporting.customer_period WHERE period = '2031-06'"
        )
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(20)
        await conn.close()
    assert at_kill < len(ev.made), "the kill came too late to test anything"
    assert len(rows) == CUSTOMERS
    assert {(r["orders"], r["ordered_amount"]) for r in rows} == {
        (ORDERS_EACH, Decimal("10.00") * ORDERS_EACH)
    }
