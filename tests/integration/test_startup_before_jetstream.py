"""A service that starts while JetStream cannot yet hold its streams (a cluster still forming refuses to
place replicas) must not lose its relay or its consumers: they keep trying, and work once it can.

Here the stream cannot be made because the settings ask for three replicas of a single server; the
settings are then put right, as the forming cluster would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NATS

from services.customers.application import CustomersApplication
from shared.clock import FixedClock
from shared.consumer import DurableConsumer
from shared.contracts import Envelope
from shared.database import ensure_database
from shared.outbox import OutboxRelay
from shared.settings import Settings
from tests.conftest import wait_for
from tests.integration.reporting_kit import Events, at, publish
from tests.integration.test_outbox import prospect

pytestmark = pytest.mark.integration

NOT_YET = 1.5  # seconds the component is watched failing to make its stream


def unplaceable(settings: Settings) -> Settings:
    return settings.model_copy(update={"stream_replicas": 3})


async def stop_task(stop: asyncio.Event, task: asyncio.Task[Any]) -> None:
    stop.set()
    await asyncio.wait_for(task, 10)


async def test_a_relay_started_before_jetstream_can_hold_its_stream_keeps_trying_then_publishes(
    nc: NATS, settings: Settings
) -> None:
    ensure_database(settings, ["customers"])
    app = CustomersApplication(settings, FixedClock(datetime(2026, 3, 1, tzinfo=UTC)))
    try:
        app.register_prospect(prospect(1))
        relay = OutboxRelay(app, unplaceable(settings), nc)
        stop = asyncio.Event()
        task = asyncio.create_task(relay.run(stop))
        try:
            await asyncio.sleep(NOT_YET)
            assert not task.done() and relay.published == 0
            relay.settings = settings

            async def published() -> bool:
                return relay.published == 1 and relay.position == app.recorder.max_notification_id()

            await wait_for(published)
        finally:
            await stop_task(stop, task)
    finally:
        app.close()


async def test_a_consumer_started_before_jetstream_can_hold_its_streams_keeps_trying_then_consumes(
    nc: NATS, settings: Settings
) -> None:
    received: list[Envelope] = []

    async def handle(envelopes: Sequence[Envelope]) -> None:
        received.extend(envelopes)

    events = Events()
    events.product("P-1", at(2026, 10, 2), "100.00", "60.00")
    # Its own connection: a pull subscription cannot be drained, so it is closed at the end.
    own = await nats.connect(settings.nats_url)
    consumer = DurableConsumer(own, unplaceable(settings), "startup", "orders", handle)
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        await asyncio.sleep(NOT_YET)
        assert not task.done()
        consumer.settings = settings
        await publish(nc.jetstream(), settings, events.made)

        async def consumed() -> bool:
            return [e.event_id for e in received] == [e.event_id for e in events.made]

        await wait_for(consumed)
    finally:
        await stop_task(stop, task)
        await own.close()
