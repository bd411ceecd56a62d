"""The idempotent consumer base: a JetStream durable pull consumer with explicit ack and dead letters.

Its messages come through a ``PullFeed``, which keeps a pull request open rather than asking for each
batch. A batch (what is on hand, up to ``consumer_batch_size``) is handed to ``handle`` in one call (one
database transaction in the handlers here: fast). If the batch fails, its messages are tried one at a
time, so one poison message cannot hold back the rest; a message that still fails is nak'ed with backoff
and, on its last allowed delivery, parked on the dead-letter subject with the error, then acknowledged.
Handlers must be idempotent: after a crash JetStream delivers again whatever was not acknowledged.

An outage of the handler's database is not a poison message: while the error is a lost or refused
connection, the same batch is retried (its ack deadline pushed back) until the database is back, so
an outage parks nothing and uses up none of a message's deliveries. ``python -m shared.deadletter``
lists, shows and re-drives what was parked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

import asyncpg
import nats.errors
import orjson
import psycopg
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, Header, StatusCode
from nats.js.errors import NotFoundError
from pydantic import ValidationError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_fixed

from shared.contracts import Envelope
from shared.settings import Settings
from shared.streams import ensure_dead_letter_stream, ensure_event_stream
from shared.subjects import dead_letter_subject, events_wildcard, stream_name
from shared.waiting import first_of, pause

log = logging.getLogger(__name__)

BatchHandler = Callable[[Sequence[Envelope]], Awaitable[None]]

# Errors that say "the database is not reachable right now", not "this message is bad".
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    # A connection in a state no statement can run in ("cannot switch to state 12; another operation is in
    # progress": a server's farewell message met a batch starting): the handler drops it, the retry runs on
    # another connection.
    asyncpg.InternalClientError,
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,  # admin shutdown, cannot connect now (server starting)
    psycopg.OperationalError,
)
OUTAGE_RETRY_SECONDS = 1.0
# A pull request lasts this long (then another follows); while it waits, the server sends a heartbeat
# this often, and requests not heard of for LOST_AFTER are taken as gone (a server restarted, a leader
# moved) and asked again.
PULL_EXPIRES = 5.0
PULL_HEARTBEAT = 1.0
LOST_AFTER = 3 * PULL_HEARTBEAT
NEXT_SUBJECT = "$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}"
STATUS, DESCRIPTION, PENDING_MESSAGES = Header.STATUS.value, Header.DESCRIPTION.value, "Nats-Pending-Messages"
HEARTBEAT, EXPIRED = StatusCode.CONTROL_MESSAGE.value, StatusCode.REQUEST_TIMEOUT.value


def is_transient(error: BaseException) -> bool:
    return isinstance(error, TRANSIENT_ERRORS)


class DurableConsumer:
    def __init__(
        self,
        nc: NATS,
        settings: Settings,
        name: str,
        source_service: str,
        handle: BatchHandler,
        closing: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """``closing``: run once the consumer has stopped (the handler gives back what it holds)."""
        self.nc = nc
        self.js = nc.jetstream()
        self.settings = settings
        self.name = name
        self.source_service = source_service
        self.handle = handle
        self.closing = closing
        self.durable = f"{name}-{source_service}"
        self.consumed = 0
        self.parked = 0
        self.outage_retries = 0
        self._stop = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        self._stop = stop
        try:
            feed = await self._subscribe(stop)
            if feed is not None:
                await self._consume(feed, stop)
        finally:
            if self.closing is not None:
                await self.closing()

    async def _consume(self, feed: PullFeed, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                messages = await feed.take(timeout=1.0)
                if not messages:
                    continue
                try:
                    await self._process(messages)
                except nats.errors.Error as error:
                    # Acks or a park could not be sent: what was not acknowledged comes after ack_wait.
                    log.warning("consumer %s: bus error while processing (%r)", self.durable, error)
        finally:
            await feed.close()

    async def _subscribe(self, stop: asyncio.Event) -> PullFeed | None:
        """The streams, the durable consumer and a feed of its messages, tried again until JetStream can
        make them: a cluster still forming refuses to place replicas. None when stopped first."""
        stream = stream_name(self.settings.namespace, self.source_service)
        config = ConsumerConfig(
            durable_name=self.durable,
            filter_subject=events_wildcard(self.settings.namespace, self.source_service),
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            max_deliver=self.settings.consumer_max_deliver,
            ack_wait=self.settings.consumer_ack_wait_seconds,
            max_ack_pending=self.settings.consumer_batch_size * 4,
        )
        while not stop.is_set():
            try:
                await ensure_event_stream(self.js, self.settings, self.source_service)
                await ensure_dead_letter_stream(self.js, self.settings)
                try:
                    await self.js.consumer_info(stream, self.durable)
                except NotFoundError:
                    await self.js.add_consumer(stream, config=config)
                feed = PullFeed(self.nc, stream, self.durable, self.settings.consumer_batch_size)
                await feed.start()
                return feed
            except (nats.errors.Error, TimeoutError) as error:
                log.warning("consumer %s: cannot subscribe yet (%s); retrying", self.durable, error)
                await pause(stop, 1.0)
        return None

    async def _process(self, messages: list[Msg]) -> None:
        parsed: list[tuple[Msg, Envelope]] = []
        for msg in messages:
            try:
                parsed.append((msg, Envelope.model_validate_json(msg.data)))
            except ValidationError as error:
                await self._park(msg, f"not an envelope: {error}")  # retrying cannot make it valid
        if not parsed:
            return
        try:
            await self._handle_through_outages([msg for msg, _ in parsed], [e for _, e in parsed])
        except Exception:
            if self._stop.is_set():
                return  # stopping during an outage: unacknowledged messages are delivered again later
            log.warning("consumer %s: batch of %d failed; trying one by one", self.durable, len(parsed))
            for msg, envelope in parsed:
                await self._process_one(msg, envelope)
            return
        for msg, _ in parsed:  # each ack only joins the client's outgoing buffer: no task per ack
            await msg.ack()
        self.consumed += len(parsed)

    async def _handle_through_outages(self, messages: list[Msg], envelopes: list[Envelope]) -> None:
        """Run the handler; while the database is unreachable, keep the messages and try again.

        The retrying is built only once a batch has failed (its first retry then comes at once, on another
        connection): built for every batch, it was about a tenth of reporting's CPU at 200 commands/s."""
        try:
            await self.handle(envelopes)
        except Exception as error:
            if not self._outage(error):
                raise
            await self._held(messages, error)
            await self._retry_through_outage(messages, envelopes)

    def _outage(self, error: BaseException) -> bool:
        return is_transient(error) and not self._stop.is_set()

    async def _held(self, messages: list[Msg], error: BaseException | None) -> None:
        self.outage_retries += 1
        log.warning("consumer %s: database unavailable (%r); retrying", self.durable, error)
        # Push the ack deadline back so JetStream does not redeliver what is still being worked on.
        await asyncio.gather(*(msg.in_progress() for msg in messages), return_exceptions=True)

    async def _retry_through_outage(self, messages: list[Msg], envelopes: list[Envelope]) -> None:
        async def held(attempt: RetryCallState) -> None:
            await self._held(messages, attempt.outcome.exception() if attempt.outcome else None)

        retrying = AsyncRetrying(
            retry=retry_if_exception(self._outage),
            wait=wait_fixed(OUTAGE_RETRY_SECONDS),
            sleep=lambda seconds: first_of(self._stop, timeout=seconds),  # stopping cuts the pause short
            before_sleep=held,
            reraise=True,
        )
        await retrying(self.handle, envelopes)

    async def _process_one(self, msg: Msg, envelope: Envelope) -> None:
        try:
            await self._handle_through_outages([msg], [envelope])
        except Exception as error:
            if self._stop.is_set():
                return
            log.exception("consumer %s: event %s failed", self.durable, envelope.event_id)
            if msg.metadata.num_delivered >= self.settings.consumer_max_deliver:
                await self._park(msg, repr(error))
            else:
                await msg.nak(delay=min(2.0**msg.metadata.num_delivered, 30.0))
            return
        await msg.ack()
        self.consumed += 1

    async def _park(self, msg: Msg, reason: str) -> None:
        headers = {
            "Salesops-Error": reason[:2000].replace("\r", " ").replace("\n", " "),
            "Salesops-Consumer": self.durable,
            "Salesops-Original-Subject": msg.subject,
            "Salesops-Stream": msg.metadata.stream,
            "Salesops-Stream-Sequence": str(msg.metadata.sequence.stream),
            "Salesops-Deliveries": str(msg.metadata.num_delivered),
        }
        await self.js.publish(
            dead_letter_subject(self.settings.namespace, self.durable), msg.data, headers=headers
        )
        await msg.ack()
        self.parked += 1
        log.error("consumer %s: parked message %s: %s", self.durable, msg.subject, reason)


class PullFeed:
    """The messages of a durable pull consumer, as JetStream stores them: a pull request stays open for up
    to ``batch`` messages and the next is sent while it still has half of them to go, so a consumer that
    is caught up gets each message as it comes, and one that is behind has the next ones on hand when it
    is done with a batch.

    nats-py's ``fetch`` sent two requests for each batch (a probe, then a wait), each a round trip through
    the server: at a low rate, that was most of what a batch cost the consumer and the server beyond its
    handling. Messages taken are acknowledged by the consumer as before; those still here when it stops
    are given back (nak) for another instance to take at once."""

    def __init__(self, nc: NATS, stream: str, durable: str, batch: int) -> None:
        self.nc = nc
        self.batch = batch
        self.subject = NEXT_SUBJECT.format(stream=stream, durable=durable)
        self.inbox = nc.new_inbox()
        self.messages: deque[Msg] = deque()
        self.arrived = asyncio.Event()
        self.asked = 0  # messages asked for that the server has neither sent nor given up on
        self.heard = time.monotonic()  # the server's last message or heartbeat on the inbox
        self.subscription: Subscription | None = None

    async def start(self) -> None:
        self.subscription = await self.nc.subscribe(self.inbox, cb=self._received)

    async def take(self, timeout: float) -> list[Msg]:
        """Up to ``batch`` messages: those on hand, else the first that come within ``timeout``."""
        await self._ask()
        if not self.messages:
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), timeout)
            await self._ask()
        return [self.messages.popleft() for _ in range(min(len(self.messages), self.batch))]

    async def close(self) -> None:
        if self.subscription is not None:
            with contextlib.suppress(nats.errors.Error):
                await self.subscription.unsubscribe()
            self.subscription = None
        for msg in self.messages:
            with contextlib.suppress(nats.errors.Error):
                await msg.nak()
        self.messages.clear()

    async def _ask(self) -> None:
        if self.asked and time.monotonic() - self.heard > LOST_AFTER:
            self.asked = 0  # no heartbeat: the server no longer holds our requests
        if self.asked > self.batch // 2 or len(self.messages) >= self.batch:
            return
        request = {
            "batch": self.batch,
            "expires": int(PULL_EXPIRES * 1e9),
            "idle_heartbeat": int(PULL_HEARTBEAT * 1e9),
        }
        try:
            await self.nc.publish(self.subject, orjson.dumps(request), reply=self.inbox)
        except nats.errors.Error as error:  # reconnecting: asked again on the next take
            log.warning("pull request on %s not sent (%r)", self.subject, error)
            return
        if not self.asked:
            self.heard = time.monotonic()  # the first heartbeat is due a heartbeat from now
        self.asked += self.batch

    async def _received(self, msg: Msg) -> None:
        self.heard = time.monotonic()
        headers = msg.headers or {}
        status = headers.get(STATUS)
        if status is None:
            self.messages.append(msg)
            self.asked = max(self.asked - 1, 0)
        elif status == HEARTBEAT:
            return
        else:
            # A request ended, and the server says how many of its messages it will not send.
            unsent = headers.get(PENDING_MESSAGES, "")
            self.asked = max(self.asked - int(unsent), 0) if unsent.isdigit() else 0
            if status != EXPIRED:
                # Refused or cut short (a leader changed, the consumer was deleted, ...): asked again on
                # the next take, not at once, so that a request refused every time is not sent in a loop.
                log.info("pull request on %s ended: %s %s", self.subject, status, headers.get(DESCRIPTION))
                return
        self.arrived.set()  # a message; or an expired request, to be followed at once by the next
