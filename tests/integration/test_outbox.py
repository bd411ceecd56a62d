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
from shared.streams import ensure_event_stream
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


async def test_events_stored_while_a_page_awaits_its_acks_go_out_before_those_acks(
    app: Any, nc: NATS, settings: Settings
) -> None:
    """Under load the relay does not wait for a page's acks and position before sending what was stored
    meanwhile; that page's position is still recorded only once its acks arrive."""
    held: list[bytes] = []  # JetStream's acks of the first page, kept from the relay for a while

    async def hold(msg: Any) -> None:
        held.append(msg.data)

    holding = await nc.subscribe(nc.new_inbox(), cb=hold)
    first_reply: list[str] = []

    async def first_acks_held(subject: str, payload: bytes, reply: str, headers: dict[str, str]) -> None:
        if not first_reply:
            first_reply.append(reply)
            reply = holding.subject
        await nc.publish(subject, payload, reply=reply, headers=headers)

    async def ack_held() -> bool:
        return bool(held)

    async def both_on_the_stream() -> bool:
        return await stream_messages(nc, settings) >= before + 2

    async def position_at_the_end() -> bool:
        return relay.position == (app.recorder.max_notification_id() or 0)

    await ensure_event_stream(nc.jetstream(), settings, "customers")
    relay = OutboxRelay(app, settings, nc)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        await wait_for(position_at_the_end)  # what earlier tests stored is out
        before = await stream_messages(nc, settings)
        relay.nc = cast(Any, PublishThrough(nc, first_acks_held))
        app.register_prospect(prospect(300))
        first = app.recorder.max_notification_id()
        await wait_for(ack_held)  # the first event is stored on the stream; its ack is held
        app.register_prospect(prospect(301))
        await wait_for(both_on_the_stream)  # the second went out without that ack
        assert relay.position < first  # the first page's position waits for its ack
        for ack in held:
            await nc.publish(first_reply[0], ack)
        await wait_for(position_at_the_end)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await holding.unsubscribe()
    assert await stream_messages(nc, settings) == before + 2  # each once
