"""The idempotent consumer base: a JetStream durable pull consumer with explicit ack and dead letters.

A batch is handed to ``handle`` in one call (one database transaction in the handlers here: fast). If
the batch fails, its messages are tried one at a time, so one poison message cannot hold back the
rest; a message that still fails is nak'ed with backoff and, on its last allowed delivery, parked on
the dead-letter subject with the error, then acknowledged. Handlers must be idempotent: after a crash
JetStream delivers again whatever was not acknowledged.

An outage of the handler's database is not a poison message: while the error is a lost or refused
connection, the same batch is retried (its ack deadline pushed back) until the database is back, so
an outage parks nothing and uses up none of a message's deliveries. ``python -m shared.deadletter``
lists, shows and re-drives what was parked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

import asyncpg
import nats.errors
import psycopg
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext
from pydantic import ValidationError

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
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,  # admin shutdown, cannot connect now (server starting)
    psycopg.OperationalError,
)
OUTAGE_RETRY_SECONDS = 1.0
PREFETCH_FROM = 10  # a batch of at least this many messages says the consumer is behind


def is_transient(error: BaseException) -> bool:
    return isinstance(error, TRANSIENT_ERRORS)


class DurableConsumer:
    def __init__(
        self, nc: NATS, settings: Settings, name: str, source_service: str, handle: BatchHandler
    ) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self.settings = settings
        self.name = name
        self.source_service = source_service
        self.handle = handle
        self.durable = f"{name}-{source_service}"
        self.consumed = 0
        self.parked = 0
        self.outage_retries = 0
        self._stop = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        self._stop = stop
        subscription = await self._subscribe(stop)
        if subscription is None:
            return
        prefetched: asyncio.Task[list[Msg]] | None = None
        try:
            while not stop.is_set():
                if prefetched is None:
                    messages = await self._fetch(subscription)
                else:
                    await first_of(stop, prefetched)
                    if not prefetched.done():
                        break
                    messages = prefetched.result()
                prefetched = None
                if len(messages) >= PREFETCH_FROM:
                    # Behind: the next batch is fetched while this one is handled, so the fetch's round
                    # trip is off the events' way. Caught up, one fetch at a time gathers more per batch.
                    prefetched = asyncio.ensure_future(self._fetch(subscription))
                try:
                    await self._process(messages)
                except nats.errors.Error as error:
                    # Acks or a park could not be sent: what was not acknowledged comes after ack_wait.
                    log.warning("consumer %s: bus error while processing (%r)", self.durable, error)
        finally:
            if prefetched is not None:  # what it fetched comes again after ack_wait
                prefetched.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await prefetched

    async def _fetch(self, subscription: JetStreamContext.PullSubscription) -> list[Msg]:
        """The next batch; empty when none came within a second or the fetch failed."""
        try:
            return await subscription.fetch(self.settings.consumer_batch_size, timeout=1.0)
        except (TimeoutError, nats.errors.TimeoutError):
            return []
        except nats.errors.Error as error:
            log.warning("consumer %s: fetch failed (%r); retrying", self.durable, error)
            await pause(self._stop, 0.5)
            return []

    async def _subscribe(self, stop: asyncio.Event) -> JetStreamContext.PullSubscription | None:
        """The streams and the durable consumer, tried again until JetStream can make them: a cluster
        still forming refuses to place replicas. None when stopped first."""
        while not stop.is_set():
            try:
                await ensure_event_stream(self.js, self.settings, self.source_service)
                await ensure_dead_letter_stream(self.js, self.settings)
                return await self.js.pull_subscribe(
                    events_wildcard(self.settings.namespace, self.source_service),
                    durable=self.durable,
                    stream=stream_name(self.settings.namespace, self.source_service),
                    config=ConsumerConfig(
                        ack_policy=AckPolicy.EXPLICIT,
                        deliver_policy=DeliverPolicy.ALL,
                        max_deliver=self.settings.consumer_max_deliver,
                        ack_wait=self.settings.consumer_ack_wait_seconds,
                        max_ack_pending=self.settings.consumer_batch_size * 4,
                    ),
                )
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
        await asyncio.gather(*(msg.ack() for msg, _ in parsed))
        self.consumed += len(parsed)

    async def _handle_through_outages(self, messages: list[Msg], envelopes: list[Envelope]) -> None:
        """Run the handler; while the database is unreachable, keep the messages and try again."""
        while True:
            try:
                await self.handle(envelopes)
                return
            except Exception as error:
                if not is_transient(error) or self._stop.is_set():
                    raise
                self.outage_retries += 1
                log.warning("consumer %s: database unavailable (%r); retrying", self.durable, error)
            # Push the ack deadline back so JetStream does not redeliver what is still being worked on.
            await asyncio.gather(*(msg.in_progress() for msg in messages), return_exceptions=True)
            await pause(self._stop, OUTAGE_RETRY_SECONDS)

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
