"""The outbox relay against real PostgreSQL and JetStream: after commit, in order, exactly once."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, cast

import asyncpg
import pytest
from nats.aio.client import Client as NATS

from services.customers.application import CustomersApplication
from services.customers.commands import RegisterProspect
from services.customers.domain import Kind
from shared.clock import FixedClock
from shared.contracts import Actor, Envelope, Role
from shared.outbox import OutboxRelay
from shared.settings import Settings
from shared.store import ensure_database
from shared.subjects import stream_name
from tests.conftest import PublishThrough, wait_for

pytestmark = pytest.mark.integration


def prospect(n: int) -> RegisterProspect:
    return RegisterProspect(
        actor=Actor(id="sp-1", role=Role.SALESPERSON),
        kind=Kind.DEALER,
        region="NORTH",
        salesperson_id="sp-1",
        company_name=f"Dealer {n}",
        founding_date=date(2015, 1, 1),
        legal_representative="Zhang San",
        registered_capital=Decimal("100000"),
        address="x",
        phone="010-1234",
        business_scale="small",
        staff_count=5,
        annual_sales=Decimal("1000000"),
        main_products=["valves"],
        preferred_payment_terms="30 days",
        bank="BOC",
    )


@pytest.fixture(scope="module")
def app(settings: Settings) -> Any:
    ensure_database(settings, ["customers"])
    application = CustomersApplication(settings, FixedClock(datetime(2026, 3, 1, tzinfo=UTC)))
    yield application
    application.close()


async def stream_messages(nc: NATS, settings: Settings) -> int:
    info = await nc.jetstream().stream_info(stream_name(settings.namespace, "customers"))
    return int(info.state.messages)


async def run_relay(relay: OutboxRelay, until: Any) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        await wait_for(until)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_relay_publishes_events_stored_while_it_was_down_in_order_once(
    app: Any, nc: NATS, settings: Settings
) -> None:
    ids = [app.register_prospect(prospect(n))["customer_id"] for n in range(30)]
    relay = OutboxRelay(app, settings, nc)

    async def all_published() -> bool:
        return relay.position >= (app.recorder.max_notification_id() or 0) and relay.published >= 30

    await run_relay(relay, all_published)
    assert await stream_messages(nc, settings) == 30
    js = nc.jetstream()
    sub = await js.subscribe(f"{settings.namespace}.customers.events.>", ordered_consumer=True)
    envelopes = [Envelope.model_validate_json((await sub.next_msg(timeout=5)).data) for _ in range(30)]
    await sub.unsubscribe()
    assert [e.aggregate_id for e in envelopes] == ids
    assert [e.position for e in envelopes] == sorted(e.position for e in envelopes)
    assert envelopes[0].data["company_name"] == "Dealer 0"
    assert envelopes[0].actor == Actor(id="sp-1", role=Role.SALESPERSON)


async def test_crash_between_publish_and_recording_position_publishes_no_duplicate(
    app: Any, nc: NATS, settings: Settings
) -> None:
    before = await stream_messages(nc, settings)
    app.register_prospect(prospect(100))
    relay = OutboxRelay(app, settings, nc)
    relay_position = await _recorded_position(settings)
    # Publish the page as a crashed relay would have done, without recording the position.
    rows_published = await _publish_without_recording(relay, relay_position)
    assert rows_published == 1

    async def caught_up() -> bool:
        return relay.position >= (app.recorder.max_notification_id() or 0)

    await run_relay(relay, caught_up)
    assert await stream_messages(nc, settings) == before + 1  # the re-sent copy was dropped by JetStream
    assert relay.position == app.recorder.max_notification_id()


async def _recorded_position(settings: Settings) -> int:
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        return int(
            await conn.fetchval("SELECT position FROM customers.outbox_position WHERE service = 'customers'")
        )
    finally:
        await conn.close()


async def _publish_without_recording(relay: OutboxRelay, position: int) -> int:
    conn = await asyncpg.connect(relay.settings.postgres_dsn)
    try:
        rows = await relay.next_page(conn, position)
    finally:
        await conn.close()
    await (await relay.send(rows))
    return relay.published


async def test_pages_sent_ahead_a_lost_ack_resends_from_the_recorded_position_exactly_once(
    app: Any, nc: NATS, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Several pages in flight at once: one message of the second page is lost unacknowledged, so the relay
    fails and starts again from the position recorded after the first page; every event ends on the
    stream once (the re-sent copies are dropped by ``Nats-Msg-Id``) and the position reaches the end."""
    monkeypatch.setattr("shared.outbox.PAGE_SIZE", 7)
    before = await stream_messages(nc, settings)
    start = app.recorder.max_notification_id() or 0
    for n in range(200, 230):
        app.register_prospect(prospect(n))
    monkeypatch.setattr("shared.outbox.PUBLISH_TIMEOUT", 0.5)  # how long a page waits for its acks (x2)
    relay = OutboxRelay(app, settings, nc)
    calls = 0

    async def lost_once(subject: str, payload: bytes, **options: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 10:  # the 3rd message of the 2nd page is lost on the way: no ack comes
            return
        await nc.publish(subject, payload, **options)

    relay.nc = cast(Any, PublishThrough(nc, lost_once))

    async def caught_up() -> bool:
        return relay.position >= (app.recorder.max_notification_id() or 0)

    await run_relay(relay, caught_up)
    assert calls > 30  # the failed page and those after it were sent again
    assert await stream_messages(nc, settings) == before + 30
    js = nc.jetstream()
    sub = await js.subscribe(f"{settings.namespace}.customers.events.>", ordered_consumer=True)
    envelopes = [
        Envelope.model_validate_json((await sub.next_msg(timeout=5)).data) for _ in range(before + 30)
    ]
    await sub.unsubscribe()
    positions = [e.position for e in envelopes if e.position > start]
    assert sorted(positions) == sorted(set(positions)) and len(positions) == 30
    assert relay.position == app.recorder.max_notification_id()
