"""Periodic jobs (hold expiry, complaint deadlines) that run inside a service process.

A job must be safe to run again after a crash: it decides from stored state what is due and asks the
application to act, and the aggregate refuses to act twice (an expired hold cannot expire again).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from shared.waiting import pause

log = logging.getLogger(__name__)


async def every(seconds: float, job: Callable[[], Awaitable[object]], stop: asyncio.Event) -> None:
    """Run ``job`` now and then every ``seconds`` until ``stop``; a failing run is logged, not fatal."""
    while not stop.is_set():
        try:
            await job()
        except Exception:
            log.exception("scheduled job %s failed; will run again", getattr(job, "__name__", job))
        await pause(stop, seconds)
