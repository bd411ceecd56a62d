"""Waiting in a service's background tasks: a pause that stopping cuts short, and the first of several
things to happen."""

from __future__ import annotations

import asyncio
from typing import Any


async def pause(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep up to ``seconds``, less if ``stop`` is set meanwhile; True when stopped."""
    await first_of(stop, timeout=seconds)
    return stop.is_set()


async def first_of(*awaited: asyncio.Future[Any] | asyncio.Event, timeout: float | None = None) -> None:
    """Until one of them is done (a future, whose result is not awaited here) or set, or ``timeout``."""
    waiters = [a if isinstance(a, asyncio.Future) else asyncio.ensure_future(a.wait()) for a in awaited]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter, given in zip(waiters, awaited, strict=True):
            if waiter is not given:  # only the waits made here
                waiter.cancel()
