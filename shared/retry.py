"""Trying again, in one place: every loop that waits for something to hold, or sends again what failed
for a passing reason, goes through tenacity, here (polling) or directly (retrying with its own policy)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from tenacity import AsyncRetrying, RetryCallState, Retrying, retry_if_result, stop_after_delay, wait_fixed

T = TypeVar("T")


def _last_outcome(state: RetryCallState) -> Any:
    """Out of time: the last attempt's result (or its exception, raised again)."""
    assert state.outcome is not None
    return state.outcome.result()


def _policy(done: Callable[[Any], bool], timeout: float, every: float) -> dict[str, Any]:
    return {
        "retry": retry_if_result(lambda result: not done(result)),
        "stop": stop_after_delay(timeout),
        "wait": wait_fixed(every),
        "retry_error_callback": _last_outcome,
    }


async def poll(
    probe: Callable[[], Awaitable[T]], done: Callable[[T], bool], *, timeout: float, every: float
) -> T:
    """``await probe()`` every ``every`` seconds until ``done`` holds for its result or ``timeout``
    seconds have passed; the last result either way (the caller says what running out of time means).
    An exception from ``probe`` ends the polling: catch inside it what is worth waiting out."""

    async def attempt() -> T:  # tenacity awaits only what it sees is a coroutine function: not a lambda's
        return await probe()

    return await AsyncRetrying(**_policy(done, timeout, every))(attempt)


def poll_blocking(probe: Callable[[], T], done: Callable[[T], bool], *, timeout: float, every: float) -> T:
    """``poll`` for a thread that may block (tools and process supervision, not a service's loop)."""
    return Retrying(**_policy(done, timeout, every))(probe)
