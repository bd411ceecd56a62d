"""The complaints tests' kit (not a test module): the service's replies, its stream and its stored events as
the tests read them."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import nats.errors
from nats.aio.client import Client as NATS

from services.complaints.application import ComplaintsApplication
from shared.runtime import WriteService
from shared.settings import Settings
from shared.subjects import events_wildcard
from tests.conftest import Requester, succeeded, wait_for

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


async def ok(request_: Requester, name: str, body: dict[str, Any], kind: str = "cmd") -> dict[str, Any]:
    return await succeeded(request_, "complaints", kind, name, body)


async def refused(request_: Requester, name: str, body: dict[str, Any]) -> dict[str, Any]:
    reply = await request_("complaints", "cmd", name, body)
    assert not reply["ok"], reply
    return reply["error"]


async def stream_events(nc: NATS, settings: Settings) -> list[dict[str, Any]]:
    """Every envelope now on the complaints stream, read with an ephemeral ordered consumer."""
    sub = await nc.jetstream().subscribe(
        events_wildcard(settings.namespace, "complaints"), ordered_consumer=True
    )
    found: list[dict[str, Any]] = []
    try:
        while True:
            msg = await sub.next_msg(timeout=0.5)
            found.append(json.loads(msg.data) | {"subject": msg.subject})
    except nats.errors.TimeoutError:
        pass
    finally:
        await sub.unsubscribe()
    return found


async def events_of(
    nc: NATS, settings: Settings, aggregate_ids: set[str], expected: list[str]
) -> list[dict[str, Any]]:
    """Wait until the given aggregates' events on the stream are exactly ``expected`` (in order)."""
    seen: list[dict[str, Any]] = []

    async def arrived() -> bool:
        nonlocal seen
        seen = [e for e in await stream_events(nc, settings) if e["aggregate_id"] in aggregate_ids]
        return len(seen) >= len(expected)

    await wait_for(arrived)
    await asyncio.sleep(0.3)  # anything unexpected published right behind would show up now
    seen = [e for e in await stream_events(nc, settings) if e["aggregate_id"] in aggregate_ids]
    assert [e["event_type"] for e in seen] == expected
    return seen


def stored_events(app: ComplaintsApplication) -> int:
    return app.recorder.max_notification_id() or 0


def stored(complaints: WriteService) -> int:
    """Events stored by the complaints service under test (a refused command adds none)."""
    return stored_events(complaints.app)  # type: ignore[arg-type]
