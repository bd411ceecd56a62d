"""The outbox relay against real PostgreSQL and JetStream: after commit, in order, exactly once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, cast

import asyncpg
import pytest
from nats.aio.client import Client as NATS

from services.customers.application import CustomersApplication
from services.customers.commands import RegisterProspect
from shared.clock import FixedClock
from shared.contracts import Actor, Envelope, Role
from shared.database import ensure_database
from shared.outbox import EXPECTED_LAST_MSG_ID, OutboxRelay
from shared.settings import Settings
from shared.streams import ensure_event_stream
from shared.subjects import stream_name
from tests.builders import registration
from tests.conftest import PublishThrough, wait_for

pytestmark = pytest.mark.integration


def prospect(n: int) -> RegisterProspect:
    return registration(region="NORTH", company_name=f"Dealer {n}")


@pytest.fixture(scope="module")
def app(settings: Settings) -> Any:
    ensure_database(settings, ["customers"])
    application = CustomersApplication(settings, FixedClock(datetime(2026, 3, 1, tzinfo=UTC)))
    yield application
    application.close()


async def stream_messages(nc: NATS, settings: Settings) -> int:
    """Messages on the customers stream, made first when no relay has yet (a test run alone)."""
    await ensure_event_stream(nc.jetstream(), settings, "customers")
    info = await nc.jetstream().stream_info(stream_name(settings.namespace, "customers"))
    return int(info.state.messages)


async def run_relay(relay: OutboxRelay, until: Any = None) -> None:
    """Run the relay until ``until`` holds; by default until it has published everything stored."""

    async def caught_up() -> bool:
        return relay.position >= (relay.app.recorder.max_notification_id() or 0)

    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        await wait_for(until or caught_up)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_relay_publishes_events_stored_while_it_was_down_in_order_once(
    app: Any, nc: NATS, settings: Settings
) -> None:
    before = await stream_messages(nc, settings)  # what the module's other tests put there, in any order
    ids = [app.register_prospect(prospect(n))["customer_id"] for n in range(30)]
    relay = OutboxRelay(app, settings, nc)

    async def all_published() -> bool:
        return relay.position >= (app.recorder.max_notification_id() or 0) and relay.published >= 30

    await run_relay(relay, all_published)
    assert await stream_messages(nc, settings) == before + 30
    envelopes = (await stream_envelopes(nc, settings))[before:]
    assert [e.aggregate_id for e in envelopes] == ids
    assert [e.position for e in envelopes] == sorted(e.position for e in envelopes)
    assert envelopes[0].data["company_name"] == "Dealer 0"
    assert envelopes[0].actor == Actor(id="sp-1", role=Role.SALESPERSON)


async def test_crash_between_publish_and_recording_position_sends_nothing_again(
    app: Any, nc: NATS, settings: Settings
) -> None:
    """The relay taking over finds the events on the stream and does not send them again: no copy even
    once JetStream's duplicate window has passed."""
    before = await stream_messages(nc, settings)
    app.register_prospect(prospect(100))
    app.register_prospect(prospect(101))
    relay = OutboxRelay(app, settings, nc)
    # Publish as a crashed relay would have done, without recording the position.
    assert await _publish_without_recording(relay) == 2
    assert await _recorded_position(settings) < app.recorder.max_notification_id()
    assert await _sent_by_a_relay_taking_over(app, nc, settings) == []
    assert await stream_messages(nc, settings) == before + 2
    assert await _recorded_position(settings) == app.recorder.max_notification_id()


async def test_at_a_low_rate_the_position_is_recorded_once_an_interval_and_when_the_relay_goes_quiet(
    app: Any, nc: NATS, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An event published right after the relay recorded its position is not recorded at once (one
    transaction per page was most of the relay's PostgreSQL work at a low rate); it is once the relay has
    been quiet for ``RECORD_INTERVAL``."""
    monkeypatch.setattr("shared.outbox.RECORD_INTERVAL", 2.0)
    app.register_prospect(prospect(159))
    relay = OutboxRelay(app, settings, nc)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:

        async def published() -> bool:
            return relay.position == (app.recorder.max_notification_id() or 0)

        async def recorded_at_the_end() -> bool:
            return await _recorded_position(settings) == (app.recorder.max_notification_id() or 0)

        await wait_for(published)  # what was stored before is out
        await wait_for(recorded_at_the_end)  # and recorded (when the relay went quiet)
        app.register_prospect(prospect(160))
        await wait_for(published)
        assert await _recorded_position(settings) < relay.position
        await wait_for(recorded_at_the_end)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_a_position_far_behind_the_stream_counts_what_lies_beyond_the_scan_as_sent(
    app: Any, nc: NATS, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More of the relay's events follow its recorded position than ``resume`` reads back (as after an
    operator set the position back): it reads the last ones, finds no hole among them, and sends nothing."""
    monkeypatch.setattr("shared.outbox.RESUME_SCAN_LIMIT", 3)
    before = await stream_messages(nc, settings)
    for n in range(150, 156):
        app.register_prospect(prospect(n))
    assert await _publish_without_recording(OutboxRelay(app, settings, nc)) == 6
    assert await _sent_by_a_relay_taking_over(app, nc, settings) == []
    assert await stream_messages(nc, settings) == before + 6


async def _sent_by_a_relay_taking_over(app: Any, nc: NATS, settings: Settings) -> list[str]:
    """Run a new relay until it has caught up; the ``Nats-Msg-Id`` of each message it published."""
    sent: list[str] = []

    async def counted(subject: str, payload: bytes, **options: Any) -> None:
        sent.append(options["headers"]["Nats-Msg-Id"])
        await nc.publish(subject, payload, **options)

    taking_over = OutboxRelay(app, settings, cast(Any, PublishThrough(nc, counted)))

    await run_relay(taking_over)
    return sent


async def _recorded_position(settings: Settings) -> int:
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        return int(
            await conn.fetchval("SELECT position FROM customers.outbox_position WHERE service = 'customers'")
        )
    finally:
        await conn.close()


async def _publish_without_recording(relay: OutboxRelay) -> int:
    await ensure_event_stream(relay.js, relay.settings, "customers")
    conn = await asyncpg.connect(relay.settings.postgres_dsn)
    try:
        await relay.ensure_position_table(conn)
        await relay.resume(conn)
        rows = await relay.next_page(conn, relay.position)
    finally:
        await conn.close()
    await (await relay.send(rows))
    return relay.published


async def stream_envelopes(nc: NATS, settings: Settings) -> list[Envelope]:
    """The customers stream in stream order."""
    count = await stream_messages(nc, settings)
    sub = await nc.jetstream().subscribe(f"{settings.namespace}.customers.events.>", ordered_consumer=True)
    try:
        return [Envelope.model_validate_json((await sub.next_msg(timeout=5)).data) for _ in range(count)]
    finally:
        await sub.unsubscribe()


async def test_a_message_lost_on_the_way_is_sent_again_and_the_stream_keeps_store_order(
    app: Any, nc: NATS, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Several pages in flight at once, and one message of the second page never reaches JetStream: the
    stream refuses the later ones rather than store them ahead of it, the relay takes up after the last
    one stored, and every event ends on the stream once, in store order."""
    monkeypatch.setattr("shared.outbox.PAGE_SIZE", 7)
    start = app.recorder.max_notification_id() or 0
    for n in range(200, 230):
        app.register_prospect(prospect(n))
    monkeypatch.setattr("shared.outbox.PUBLISH_TIMEOUT", 0.5)  # how long a page waits for its acks (x2)
    calls = 0

    async def lost_once(subject: str, payload: bytes, **options: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 10:  # the 3rd message of the 2nd page is lost on the way: no ack comes
            return
        await nc.publish(subject, payload, **options)

    relay = OutboxRelay(app, settings, cast(Any, PublishThrough(nc, lost_once)))

    await run_relay(relay)
    assert calls > 30  # the lost message and those refused after it were sent again
    positions = [e.position for e in await stream_envelopes(nc, settings) if e.position > start]
    assert len(positions) == 30 and positions == sorted(set(positions))
    assert relay.position == app.recorder.max_notification_id()


def stranger_after_the_fourth(nc: NATS, stranger_id: str, sequence_only: bool = False) -> Any:
    """A connection for the relay on which a message someone else publishes (under ``stranger_id``, as a
    re-send by hand) lands right after the relay's 4th; ``sequence_only``: the relay's publishes chained by
    sequence alone, as a relay before ``Nats-Expected-Last-Msg-Id`` sent them."""
    calls = 0

    async def publish(subject: str, payload: bytes, reply: str, headers: dict[str, str]) -> None:
        nonlocal calls
        calls += 1
        if sequence_only:
            headers.pop(EXPECTED_LAST_MSG_ID, None)
        await nc.publish(subject, payload, reply=reply, headers=headers)
        if calls == 4:
            await nc.jetstream().publish(subject, payload, headers={"Nats-Msg-Id": stranger_id})

    return PublishThrough(nc, publish)


async def test_a_message_others_put_between_the_relays_loses_no_event_and_repeats_none(
    app: Any, nc: NATS, settings: Settings
) -> None:
    """A re-send by reconciliation (or a redriven dead letter) lands right after the relay's 4th event: the
    stream refuses the 5th, whose expected sequence the stranger took, and every later one, whose expected
    last message is its predecessor. The relay takes up after the 4th: each event once, in store order."""
    start = app.recorder.max_notification_id() or 0
    for n in range(400, 410):
        app.register_prospect(prospect(n))
    relay = OutboxRelay(app, settings, stranger_after_the_fourth(nc, "customers-resent-by-hand"))

    await run_relay(relay)
    positions = [e.position for e in await stream_envelopes(nc, settings) if e.position > start]
    ids = list(range(start + 1, start + 11))
    assert positions == [*ids[:4], ids[3], *ids[4:]]  # the stranger's copy of the 4th, then the rest
    assert relay.position == app.recorder.max_notification_id()


async def test_a_hole_a_relay_before_the_message_id_chain_left_is_filled_when_the_relay_takes_up(
    app: Any, nc: NATS, settings: Settings
) -> None:
    """A relay that chained its publishes by sequence alone: a stranger landed after its 4th event, the 5th
    was refused and the 6th fitted the sequence again, and it stopped before recording its position. The
    relay taking up finds the 5th missing among its events on the stream and sends it then: out of order,
    never lost, and nothing twice."""
    start = app.recorder.max_notification_id() or 0
    for n in range(500, 510):
        app.register_prospect(prospect(n))
    earlier_publishing = stranger_after_the_fourth(nc, "customers-redriven-by-hand", sequence_only=True)
    earlier = OutboxRelay(app, settings, earlier_publishing)
    await run_relay(earlier)
    db = await asyncpg.connect(settings.postgres_dsn)
    try:  # it stopped before recording its position
        await db.execute(
            f'UPDATE "{earlier.schema}".outbox_position SET position = $1 WHERE service = $2',
            start,
            "customers",
        )
    finally:
        await db.close()

    await run_relay(OutboxRelay(app, settings, nc))
    positions = [e.position for e in await stream_envelopes(nc, settings) if e.position > start]
    ids = list(range(start + 1, start + 11))
    assert positions == [*ids[:4], ids[3], *ids[5:], ids[4]]  # the stranger's copy of the 4th, the 5th last


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
