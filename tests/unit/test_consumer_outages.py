"""A consumer waits out a database outage: the handler is run again, the messages are kept (their ack
deadline pushed back), and anything else, or stopping, ends the wait."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, cast

import pytest

import shared.consumer as consumer_module
from shared.consumer import DurableConsumer
from shared.contracts import Envelope
from shared.settings import Settings


class Message:
    def __init__(self) -> None:
        self.extended = 0

    async def in_progress(self) -> None:
        self.extended += 1


class Bus:
    def jetstream(self) -> None:
        return None


def consumer_failing_with(errors: list[BaseException]) -> tuple[DurableConsumer, list[int]]:
    calls: list[int] = []

    async def handle(envelopes: Sequence[Envelope]) -> None:
        calls.append(len(envelopes))
        if errors:
            raise errors.pop(0)

    consumer = DurableConsumer(cast(Any, Bus()), Settings(), "reporting", "orders", handle)
    return consumer, calls


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(consumer_module, "OUTAGE_RETRY_SECONDS", 0.01)


async def test_a_database_outage_is_waited_out_with_the_messages_kept() -> None:
    consumer, calls = consumer_failing_with([ConnectionRefusedError(), TimeoutError()])
    message = Message()
    await consumer._handle_through_outages([cast(Any, message)], [cast(Any, "event")])
    assert calls == [1, 1, 1]
    assert consumer.outage_retries == 2 and message.extended == 2


async def test_an_error_that_is_not_an_outage_is_raised_at_once() -> None:
    consumer, calls = consumer_failing_with([ValueError("a bad message")])
    with pytest.raises(ValueError, match="bad message"):
        await consumer._handle_through_outages([cast(Any, Message())], [cast(Any, "event")])
    assert calls == [1] and consumer.outage_retries == 0


async def test_stopping_ends_the_wait_with_the_outage_raised() -> None:
    consumer, calls = consumer_failing_with([ConnectionRefusedError()] * 100)
    consumer._stop.set()
    with pytest.raises(ConnectionRefusedError):
        await asyncio.wait_for(
            consumer._handle_through_outages([cast(Any, Message())], [cast(Any, "event")]), 5
        )
    assert calls == [1]
