"""A poison message is parked on the dead-letter subject after ``max_deliver`` tries, with its error; the
rest keeps flowing; the dead-letter CLI lists, shows and re-drives it, and re-driving is idempotent for
every consumer of the source stream (reporting per (service, position), orders' customer view per
(customer, version))."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import nats
import pytest
from nats.aio.client import Client as NATS

from deploy.ops.reliability_doc import table, write_section
from services.orders.customer_view import run_customer_view
from services.reporting.main import start_reporting, stopped
from shared import deadletter
from shared.database import drop_database, ensure_database
from shared.settings import Settings
from shared.subjects import dead_letter_subject, stream_name
from tests.conftest import unique_settings, wait_for
from tests.integration.reporting_kit import Events, at, publish_all

pytestmark = [pytest.mark.integration, pytest.mark.fault]

ROOT = Path(__file__).resolve().parents[2]
MAX_DELIVER = 3
GOOD_CUSTOMERS = 40


@pytest.fixture(scope="module")
def settings() -> Iterator[Settings]:
    value = unique_settings(consumer_max_deliver=MAX_DELIVER, consumer_batch_size=20)
    yield value
    drop_database(value)


@pytest.fixture
async def consumers(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    """Reporting (customers source only) and orders' customer view, in this process; a connection."""
    await asyncio.to_thread(ensure_database, settings)
    stop = asyncio.Event()
    reporting = await start_reporting(settings, stop, sources=("customers",), queries=False)
    view_nc = await nats.connect(settings.nats_url)  # closed, not drained: it holds a pull subscription
    view = asyncio.create_task(run_customer_view(view_nc, settings, stop))
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        yield conn
    finally:
        stop.set()
        await stopped(reporting)
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(view, 15)
        await view_nc.close()
        await conn.close()


def cli(settings: Settings, *args: str) -> str:
    """The dead-letter CLI as an operator runs it: a separate process."""
    env = {**os.environ, "SALESOPS_NAMESPACE": settings.namespace, "SALESOPS_NATS_URL": settings.nats_url}
    done = subprocess.run(
        [sys.executable, "-m", "shared.deadletter", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


async def cli_in_process(settings: Settings, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = await deadletter.run(deadletter.parser().parse_args(list(args)), settings, out)
    return code, out.getvalue()


async def test_poison_message_is_parked_after_max_deliver_and_redriven_once_fixed(
    settings: Settings, nc: NATS, consumers: asyncpg.Connection
) -> None:
    conn = consumers
    js = nc.jetstream()
    poison_id = f"poison-{uuid.uuid4()}"
    # A bug in reporting, as seen from outside: its log refuses this one customer's events.
    await conn.execute(
        "CREATE FUNCTION reporting.refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.aggregate_id LIKE 'poison-%' THEN RAISE EXCEPTION 'cannot project %', NEW.aggregate_id; "
        "END IF; RETURN NEW; END $$"
    )
    await conn.execute(
        "CREATE TRIGGER refuse_poison BEFORE INSERT ON reporting.event_log "
        "FOR EACH ROW EXECUTE FUNCTION reporting.refuse_poison()"
    )
    ev = Events()
    half = GOOD_CUSTOMERS // 2
    for i in range(half):
        ev.customer(at(2032, 3, 1), code=f"PSN-A{i:03d}", grade=None)
    ev.customer(at(2032, 3, 2), code="PSN-POISON", grade=None, customer_id=poison_id)
    for i in range(half):
        ev.customer(at(2032, 3, 3), code=f"PSN-B{i:03d}", grade=None)
    poison = [e for e in ev.made if e.aggregate_id == poison_id]
    good = [e for e in ev.made if e.aggregate_id != poison_id]
    await publish_all(js, settings, ev.made)
    letters = deadletter.DeadLetters(js, settings)

    async def rest_flowed_and_poison_parked() -> bool:
        logged = await conn.fetchval("SELECT count(*) FROM reporting.event_log")
        return bool(logged == len(good)) and len(await letters.parked("reporting-customers")) == len(poison)

    await wait_for(rest_flowed_and_poison_parked, timeout=60, every=0.2)

    # list (as a separate process), show: the error, the consumer, the tries and the event are there
    listed = json.loads(cli(settings, "list", "--consumer", "reporting-customers", "--json"))
    assert len(listed) == len(poison)
    assert {p["aggregate_id"] for p in listed} == {poison_id}
    assert all(f"cannot project {poison_id}" in p["error"] for p in listed)
    assert all(p["deliveries"] == MAX_DELIVER for p in listed)
    assert all(p["original_subject"].startswith(f"{settings.namespace}.customers.events.") for p in listed)
    assert {p["position"] for p in listed} == {e.position for e in poison}
    code, shown = await cli_in_process(settings, "show", str(listed[0]["seq"]))
    assert code == 0 and poison_id in shown and "cannot project" in shown and '"event_type"' in shown
    code, _ = await cli_in_process(settings, "show", "999999")
    assert code == 1
    # orders' customer view has no such bug: it took the poison customer's events the first time
    view_rows = await conn.fetchval(
        "SELECT count(*) FROM orders.customer_events WHERE customer_id = $1", poison_id
    )
    assert view_rows == len(poison)

    # The fix is deployed; re-drive everything parked (as an operator would, from the CLI process).
    await conn.execute("DROP TRIGGER refuse_poison ON reporting.event_log")
    redriven = cli(settings, "redrive", "--all", "--consumer", "reporting-customers")
    assert f"{len(poison)} message(s) re-driven" in redriven

    async def poison_consumed() -> bool:
        return bool(await conn.fetchval("SELECT count(*) FROM reporting.event_log") == len(ev.made))

    await wait_for(poison_consumed, timeout=30)
    assert await letters.parked() == []
    row = await conn.fetchrow(
        "SELECT code, status FROM reporting.customers WHERE customer_id = $1", poison_id
    )
    assert row is not None and (row["code"], row["status"]) == ("PSN-POISON", "approved")

    # Re-driving an event that every consumer already applied changes nothing anywhere.
    already = good[0]
    await js.publish(
        dead_letter_subject(settings.namespace, "reporting-customers"),
        json.dumps(already.model_dump(mode="json")).encode(),
        headers={
            "Salesops-Error": "simulated: parked although applied",
            "Salesops-Consumer": "reporting-customers",
            "Salesops-Original-Subject": f"{settings.namespace}.customers.events.{already.event_type}",
        },
    )
    before = await figures(conn)
    [copy] = await letters.parked()
    await letters.redrive([copy.seq])
    stream = stream_name(settings.namespace, "customers")
    last = (await js.stream_info(stream)).state.last_seq

    async def both_consumers_past_the_copy() -> bool:
        infos = [await js.consumer_info(stream, d) for d in ("reporting-customers", "orders-customers")]
        return all(i.ack_floor.stream_seq >= last for i in infos)

    await wait_for(both_consumers_past_the_copy, timeout=30)
    after = await figures(conn)
    assert after == before

    write_section(
        "poison",
        "Poison message → dead letter → re-drive",
        "tests/fault/test_poison.py",
        [
            f"{len(ev.made)} events published to the customers stream, {len(poison)} of them belonging to a "
            "customer whose events reporting refuses (a trigger raises, standing for a projection bug).",
            "",
            *table(
                [
                    ("events sent", len(ev.made)),
                    ("consumed while the poison was parked", len(good)),
                    ("parked on the dead-letter subject", len(poison)),
                    ("deliveries before parking (max_deliver)", MAX_DELIVER),
                    ("consumed after the fix and `redrive --all`", len(ev.made)),
                    ("duplicates after re-driving an already applied event", 0),
                    ("lost", len(ev.made) - after["log"]),
                ]
            ),
            "",
            "Properties: the other events flowed while the poison was retried and parked; the parked "
            "message carries its error, consumer, original subject and number of tries; `python -m "
            "shared.deadletter list|show|redrive` works from its own process; re-driving publishes into the "
            "source stream under a new msg id, and both consumers of that stream (reporting per (service, "
            "position), orders' customer view per (customer, version)) ignore a re-driven copy of an event "
            "they already applied.",
            "",
        ],
    )


async def figures(conn: asyncpg.Connection) -> dict[str, int]:
    return {
        "log": await conn.fetchval("SELECT count(*) FROM reporting.event_log"),
        "positions": await conn.fetchval("SELECT coalesce(sum(events), 0) FROM reporting.source_position"),
        "view_events": await conn.fetchval("SELECT count(*) FROM orders.customer_events"),
        "view_versions": await conn.fetchval("SELECT coalesce(sum(version), 0) FROM orders.customer_view"),
    }
