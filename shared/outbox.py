"""The outbox relay: follows a service's notification log and publishes each stored event to JetStream.

Publishing happens only after commit. The relay is woken by the store's NOTIFY, publishes a page with
``Nats-Msg-Id: <service>-<notification id>`` and records its position only after JetStream acknowledged
the page; the next page is already sent while that acknowledgement comes.

Order on the stream is kept by JetStream, not by timing: every publish carries
``Nats-Expected-Last-Sequence``, the stream sequence its predecessor got, and
``Nats-Expected-Last-Msg-Id``, its predecessor's id (but the first after the relay takes up). When one
message is lost (a node killed, a leader changing), the stream refuses every later one instead of storing
it ahead of the lost one, even where a message someone else published (a re-send by reconciliation, a
redriven dead letter) took the lost one's sequence. The relay then takes up again after the last event of
its own that the stream holds (``resume``): a lost message reorders nothing, and no stored event is sent
twice, however long the relay was down.

Only a page's last message asks for JetStream's acknowledgement (``PageAcks``), on one reply
subscription: it is stored only if every message before it was, in order, so its ack stands for the
page's. Handling an ack per message was a fifth of the relay's CPU, and a future per message as
nats-py's ``publish_async`` has was more. Events go out as JSON built straight from the stored state
(``EnvelopeEncoder``: the bus contract's JSON, without the model's cost). An advisory lock makes sure one
relay per service publishes at a time; a second one waits to take over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import zlib
from dataclasses import dataclass
from typing import Any

import asyncpg
import nats.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.errors import NotFoundError

from shared.envelope import EnvelopeEncoder
from shared.settings import Settings
from shared.store import CommandReceipt, ServiceApplication
from shared.streams import ensure_event_stream
from shared.subjects import event_subject, stream_name
from shared.waiting import first_of, pause

log = logging.getLogger(__name__)

PAGE_SIZE = 1000
# Pages sent and not yet acknowledged: the next pages go out while the acks of earlier ones arrive.
PAGES_IN_FLIGHT = 4
PUBLISH_TIMEOUT = 5.0
IDLE_POLL_SECONDS = 5.0  # a safety net only: NOTIFY wakes the relay
# A notification is acted on at once. Waiting 5-10 ms first, so that one page carried the commands
# committed meanwhile (earlier rounds), cut a command's CPU at 200/s by up to a quarter but added the wait to
# every event's commit -> projection, whose p99 target at 200/s is 10 ms (docs/decisions/0008-command-path-
# cost-and-tail.md).
# The position is recorded at most this often, or when this many events are unrecorded (``_advance``).
RECORD_INTERVAL = 1.0
RECORD_LAG = 5_000
QUERY_TIMEOUT = 15.0  # a query on a connection that died unnoticed must not hang the relay forever
RECEIPT_TOPIC = CommandReceipt.Recorded.TOPIC  # type: ignore[attr-defined]
MSG_ID = "Nats-Msg-Id"
EXPECTED_LAST_SEQUENCE = "Nats-Expected-Last-Sequence"
EXPECTED_LAST_MSG_ID = "Nats-Expected-Last-Msg-Id"
# How far back from the stream's end ``resume`` reads the relay's events (pages in flight when it failed,
# and any messages others put there).
RESUME_SCAN_LIMIT = 10_000


class OutboxRelay:
    def __init__(
        self, app: ServiceApplication, settings: Settings, nc: NATS, instance: int | None = None
    ) -> None:
        """``instance``: the pid of the service process this relay publishes for (its own by default; a
        relay process names its parent), shown in ``pg_stat_activity`` as ``<service>-relay-<pid>``."""
        self.app = app
        self.instance = os.getpid() if instance is None else instance
        self.service = app.service
        self.settings = settings
        self.nc = nc
        self.js = nc.jetstream(timeout=PUBLISH_TIMEOUT)
        recorder: Any = app.recorder
        self.schema = recorder.datastore.schema
        self.table = recorder.events_table_name
        self.stream = stream_name(settings.namespace, self.service)
        self.channel = recorder.channel_name
        self.lock_key = zlib.crc32(f"outbox:{self.schema}:{self.service}".encode())
        self.encoder = EnvelopeEncoder(app.mapper, self.service)
        self.acks = PageAcks(nc)
        self.published = 0
        self.position = 0  # every event up to this notification id is on the stream
        self.recorded = 0  # the position as recorded in the store (``_advance``)
        self.recorded_at = 0.0
        self.stream_sequence = 0  # the stream's last sequence, as the next publish expects it
        self.last_msg_id: str | None = None  # the id of the relay's message it ends with, once known

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until ``stop`` is set; reconnects to PostgreSQL by itself after an outage, and waits
        for JetStream to hold its stream (a cluster still forming refuses to place replicas)."""
        try:
            await self._run(stop)
        finally:
            await self.acks.close()

    async def _run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self._run_connected(stop)
            except (
                OSError,
                TimeoutError,  # a query that got no answer (QUERY_TIMEOUT): the connection is suspect
                asyncpg.PostgresError,
                asyncpg.InterfaceError,
                asyncpg.InternalClientError,  # the connection's protocol state broke in an outage
                nats.errors.Error,
            ) as error:
                log.warning("outbox relay %s: %r; retrying", self.service, error)
                await pause(stop, 1.0)

    async def _run_connected(self, stop: asyncio.Event) -> None:
        # The name shows in pg_stat_activity which process holds the lock (operators, the fault tests).
        conn: asyncpg.Connection = await asyncpg.connect(
            self.settings.postgres_dsn,
            server_settings={"application_name": f"{self.service}-relay-{self.instance}"},
        )
        try:
            await self.ensure_position_table(conn)
            while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", self.lock_key):
                if await pause(stop, 1.0):
                    return
            log.info("outbox relay %s (instance %d) is the active publisher", self.service, self.instance)
            await ensure_event_stream(self.js, self.settings, self.service)
            wake = asyncio.Event()
            await conn.add_listener(self.channel, lambda *_: wake.set())
            # The server going away wakes the loop at once; the next query then fails and we reconnect.
            conn.add_termination_listener(lambda *_: wake.set())
            await self.resume(conn)
            while not stop.is_set():
                wake.clear()
                await self._drain(conn, stop, wake)
                unrecorded = self.position > self.recorded
                await first_of(stop, wake, timeout=RECORD_INTERVAL if unrecorded else IDLE_POLL_SECONDS)
                if unrecorded and not wake.is_set():  # quiet now: the position is recorded as it stands
                    await self._record(conn, self.position)
        finally:
            try:
                await conn.close(timeout=2)
            except Exception:  # a broken connection cannot close politely
                conn.terminate()

    async def ensure_position_table(self, conn: asyncpg.Connection) -> None:
        async with conn.transaction():
            # Two instances starting at once: concurrent CREATE ... IF NOT EXISTS can fail on pg_type.
            await conn.execute("SELECT pg_advisory_xact_lock($1)", self.lock_key + 1)
            await conn.execute(
                f'CREATE TABLE IF NOT EXISTS "{self.schema}".outbox_position '
                "(service text PRIMARY KEY, position bigint NOT NULL)"
            )
            await conn.execute(
                f'INSERT INTO "{self.schema}".outbox_position VALUES ($1, 0) ON CONFLICT DO NOTHING',
                self.service,
            )

    async def _drain(self, conn: asyncpg.Connection, stop: asyncio.Event, wake: asyncio.Event) -> None:
        """Publish page after page until a short one, with up to ``PAGES_IN_FLIGHT`` pages sent and not yet
        acknowledged: the next pages are selected and sent while JetStream acknowledges the first, and so
        are events stored meanwhile (``wake``, the store's NOTIFY): under load an event waits for no
        earlier page's acks and position. A page's position is recorded only once all of it is acked, pages
        in order (``_advance``); a failure ends the drain, and the relay resumes after its last event on the
        stream."""
        in_flight: list[tuple[int, asyncio.Future[None]]] = []  # (last notification id, all acked)
        after, more = self.position, True
        try:
            while True:
                while (more or wake.is_set()) and len(in_flight) < PAGES_IN_FLIGHT and not stop.is_set():
                    wake.clear()
                    rows = await self.next_page(conn, after)
                    more = len(rows) == PAGE_SIZE
                    if rows:
                        after = rows[-1]["notification_id"]
                        in_flight.append((after, await self.send(rows)))
                if not in_flight:
                    return
                last, acked = in_flight[0]
                if len(in_flight) < PAGES_IN_FLIGHT and not stop.is_set():
                    await first_of(acked, wake)
                    if not acked.done():
                        continue  # new events: sent before the first page's position is recorded
                await acked
                await self._advance(conn, last)
                in_flight.pop(0)
        finally:
            for _, acked in in_flight:
                if not acked.cancel() and not acked.cancelled():  # failed: nothing waits for them any more
                    acked.exception()  # refused too (after a lost message): seen, not reported as unread

    async def resume(self, conn: asyncpg.Connection) -> None:
        """Take up the chain where the stream ends: the next publish expects the stream's last sequence.

        Events this relay put on the stream after its recorded position (published, then a crash or a lost
        ack before the position was recorded) count as published and are not sent again. A stream that a
        relay from before ``Nats-Expected-Last-Msg-Id`` published to can hold a hole among them: a message
        someone else published landed between two of the relay's, the relay's next one was refused and the
        one after it fitted the sequence. The events missing that way are sent now, after the later ones:
        out of order, never lost."""
        recorded = await conn.fetchval(
            f'SELECT position FROM "{self.schema}".outbox_position WHERE service = $1',
            self.service,
            timeout=QUERY_TIMEOUT,
        )
        state = (await self.js.stream_info(self.stream)).state
        self.stream_sequence = state.last_seq
        self.last_msg_id = None  # the next publish expects the sequence alone
        self._recorded_as(recorded)
        on_stream, lowest = await self._published_after(recorded, state.first_seq, state.last_seq)
        if not on_stream:
            return
        last = max(on_stream)
        missing = [
            row
            for row in await self.next_page(conn, lowest, up_to=last)
            if row["notification_id"] not in on_stream and row["topic"] != RECEIPT_TOPIC
        ]
        if missing:
            log.warning(
                "outbox relay %s: %d event(s) refused between others on the stream; sending them now",
                self.service,
                len(missing),
            )
            await (await self.send(missing))
        await self._record(conn, last)

    async def _published_after(self, recorded: int, first: int, last: int) -> tuple[set[int], int]:
        """The notification ids after ``recorded`` that the stream holds, read back from its end, and the
        id after which that is known for each event: ``recorded``, unless the scan stopped at its limit
        (a position far behind the stream, as after an operator reset it: the rest counts as sent)."""
        found: set[int] = set()
        stop = max(first, 1, last - RESUME_SCAN_LIMIT + 1)
        for sequence in range(last, stop - 1, -1):
            try:
                msg = await self.js.get_msg(self.stream, sequence)
            except NotFoundError:  # deleted
                continue
            service, _, notification_id = (msg.headers or {}).get(MSG_ID, "").rpartition("-")
            if service != self.service or not notification_id.isdigit():
                continue  # someone else's message (re-sends and redriven dead letters have other ids)
            if int(notification_id) <= recorded:
                return found, recorded
            found.add(int(notification_id))
        if stop > max(first, 1) and found:
            return found, min(found) - 1
        return found, recorded

    async def _advance(self, conn: asyncpg.Connection, position: int) -> None:
        """Every event up to ``position`` is on the stream. It is recorded once ``RECORD_INTERVAL`` has passed
        or ``RECORD_LAG`` events are unrecorded (and when the relay goes quiet): at a low rate a page holds
        an event or two, and a transaction for each was most of the PostgreSQL work the relay caused.
        Nothing depends on the record being recent: ``resume`` finds on the stream what came after it."""
        self.position = position
        if position - self.recorded >= RECORD_LAG or time.monotonic() - self.recorded_at >= RECORD_INTERVAL:
            await self._record(conn, position)

    async def _record(self, conn: asyncpg.Connection, position: int) -> None:
        await conn.execute(
            f'UPDATE "{self.schema}".outbox_position SET position = $2 WHERE service = $1',
            self.service,
            position,
            timeout=QUERY_TIMEOUT,
        )
        self._recorded_as(position)

    def _recorded_as(self, position: int) -> None:
        self.position = self.recorded = position
        self.recorded_at = time.monotonic()

    async def next_page(
        self, conn: asyncpg.Connection, after: int, up_to: int | None = None
    ) -> list[asyncpg.Record]:
        """The page after notification ``after`` (or every row up to ``up_to``): notification id,
        originator id, originator version, topic, state."""
        return await conn.fetch(
            f"SELECT notification_id, originator_id, originator_version, topic, state "
            f'FROM "{self.schema}"."{self.table}" WHERE notification_id > $1 AND notification_id <= $2 '
            "ORDER BY notification_id LIMIT $3",
            after,
            up_to if up_to is not None else 2**63 - 1,
            PAGE_SIZE if up_to is None else None,
            timeout=QUERY_TIMEOUT,
        )

    async def send(self, rows: list[asyncpg.Record]) -> asyncio.Future[None]:
        """Publish stored events, each expecting its predecessor as the stream's last message; the future
        is done once JetStream acknowledged the last one, and with it the page."""
        # Idempotency receipts are the service's own bookkeeping, not business events.
        events = [row for row in rows if row["topic"] != RECEIPT_TOPIC]
        page = await self.acks.page(len(events))
        last = len(events) - 1
        for i, (notification_id, originator_id, version, topic, state) in enumerate(events):
            event_type, body = self.encoder.encode(originator_id, version, topic, state, notification_id)
            msg_id = f"{self.service}-{notification_id}"
            headers = {MSG_ID: msg_id, EXPECTED_LAST_SEQUENCE: str(self.stream_sequence)}
            if self.last_msg_id is not None:
                headers[EXPECTED_LAST_MSG_ID] = self.last_msg_id
            await self.nc.publish(
                event_subject(self.settings.namespace, self.service, event_type),
                body,
                reply=page.reply if i == last else "",
                headers=headers,
            )
            self.stream_sequence += 1
            self.last_msg_id = msg_id
        return asyncio.ensure_future(self._acknowledged(page))

    async def _acknowledged(self, page: Page) -> None:
        # A failed or missing ack raises here; the relay resumes after its last event on the stream.
        try:
            await asyncio.wait_for(page.done, PUBLISH_TIMEOUT * 2)
        finally:
            self.acks.forget(page)
        self.published += page.events


@dataclass
class Page:
    """One page of publishes, its last one awaiting JetStream's ack on the page's own reply subject."""

    reply: str
    events: int
    done: asyncio.Future[None]


class PageAcks:
    """JetStream's acknowledgements of published pages, on one wildcard reply subscription.

    Each page's last message gets the reply subject ``<inbox>.<page>``; JetStream answers it with a
    PubAck (stored, or a duplicate it already had) or an error: the page is done, or failed ("no
    responders" too: no stream took the subject).
    """

    def __init__(self, nc: NATS) -> None:
        self.nc = nc
        self.inbox = nc.new_inbox()
        self.pages: dict[str, Page] = {}
        self.count = 0
        self.subscription: Subscription | None = None

    async def close(self) -> None:
        if self.subscription is not None:
            with contextlib.suppress(nats.errors.Error):
                await self.subscription.unsubscribe()
            self.subscription = None

    async def page(self, events: int) -> Page:
        if self.subscription is None:
            self.subscription = await self.nc.subscribe(f"{self.inbox}.*", cb=self._on_ack)
        self.count += 1
        key = str(self.count)
        page = Page(f"{self.inbox}.{key}", events, asyncio.get_running_loop().create_future())
        if events:
            self.pages[key] = page
        else:
            page.done.set_result(None)
        return page

    def forget(self, page: Page) -> None:
        self.pages.pop(page.reply.rpartition(".")[2], None)

    async def _on_ack(self, msg: Msg) -> None:
        page = self.pages.get(msg.subject.rpartition(".")[2])
        if page is None or page.done.done():
            return  # a late ack of a page given up on
        if not msg.data or b'"error"' in msg.data:  # a status message (no responders) or a refusal
            page.done.set_exception(
                nats.errors.Error(f"publish not acknowledged: {msg.headers or msg.data[:200]!r}")
            )
        else:
            page.done.set_result(None)
