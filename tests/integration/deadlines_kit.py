"""The deadline tests' kit (not a test module): a service whose deadline scan runs every 0.2 s (complaints
run so, ready made), and the wait until a scan raised exactly what was due, which then stays raised once
while more scans pass."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from services.complaints.api import register
from services.complaints.application import ComplaintsApplication
from services.complaints.main import deadlines
from services.complaints.scopes import SCHEMA as COMPLAINTS_VIEW
from shared.clock import FixedClock
from shared.customer_directory import PostgresCustomerDirectory
from shared.database import ensure_database
from shared.settings import Settings
from tests.conftest import service_running, wait_for

Events = list[dict[str, Any]]
Stream = Callable[[], Awaitable[Events]]  # what the service's stream holds now
SCAN_SECONDS = 0.2


def scanning_fast(settings: Settings, service: str, setting: str) -> Settings:
    """The service's database made, and settings whose deadline scan (``setting``) runs every 0.2 s."""
    ensure_database(settings, [service])
    return settings.model_copy(update={setting: SCAN_SECONDS})


@contextlib.asynccontextmanager
async def complaints_scanning(settings: Settings, clock: FixedClock) -> AsyncIterator[Any]:
    """Complaints as its main.py runs it (the deadline scan too), every 0.2 s."""
    fast = scanning_fast(settings, "complaints", "complaint_deadline_check_seconds")
    app = ComplaintsApplication(fast, clock, PostgresCustomerDirectory(fast, COMPLAINTS_VIEW))
    async with service_running(app, register, fast, extra=deadlines) as running:
        yield running


async def nothing_raised(events: Stream, seen: Callable[[Events], list[Any]]) -> None:
    """Three scans pass and raise nothing (nothing is due yet)."""
    await asyncio.sleep(3 * SCAN_SECONDS)
    assert seen(await events()) == []


async def settle_on(events: Stream, seen: Callable[[Events], list[Any]], expected: list[Any]) -> Events:
    """Until the scans raised exactly ``expected``; then five more scans: still raised once. The events."""

    async def arrived() -> bool:
        return seen(await events()) == expected

    await wait_for(arrived)
    await asyncio.sleep(5 * SCAN_SECONDS)
    now = await events()
    assert seen(now) == expected
    return now
