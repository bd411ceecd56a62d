"""The one retry helper: polling until something holds, or until the time is up."""

from __future__ import annotations

import time

import pytest

from shared.retry import poll, poll_blocking


async def test_polling_stops_at_the_first_result_that_holds() -> None:
    answers = iter([1, 2, 3, 4])
    calls = []

    async def probe() -> int:
        calls.append(1)
        return next(answers)

    assert await poll(probe, lambda n: n >= 3, timeout=5, every=0.01) == 3
    assert len(calls) == 3


async def test_polling_out_of_time_gives_the_last_result() -> None:
    async def probe() -> str:
        return "never"

    started = time.monotonic()
    assert await poll(probe, lambda answer: answer == "done", timeout=0.2, every=0.05) == "never"
    assert 0.2 <= time.monotonic() - started < 2


async def test_a_probe_that_returns_an_awaitable_is_awaited() -> None:
    async def answer(n: int) -> int:
        return n

    assert await poll(lambda: answer(7), lambda n: n == 7, timeout=5, every=0.01) == 7


def test_an_exception_ends_the_polling_at_once() -> None:
    calls = []

    def probe() -> bool:
        calls.append(1)
        raise RuntimeError("the process exited")

    with pytest.raises(RuntimeError, match="exited"):
        poll_blocking(probe, bool, timeout=5, every=0.01)
    assert len(calls) == 1
