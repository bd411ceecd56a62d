"""The command worker: a write service's commands from the bus, decided in turn in a thread of their own
and saved in batches (``ServiceApplication.decide_batch``)."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Answer(Generic[T]):
    """What one command of a batch came to: its result, or the error it raised."""

    result: T | None
    error: Exception | None = None


def answer_of(call: Callable[[], T]) -> Answer[T]:
    try:
        return Answer(call())
    except Exception as error:  # the command's own outcome (a refusal, the store down): its caller's
        return Answer(None, error)


@dataclass(frozen=True)
class _Call:
    run: Callable[[], Any]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]


class CommandWorker:
    """Runs an application's commands one after another in a thread of its own. The commands that arrive
    while a batch is being decided and saved make up the next batch (up to ``max_batch``), saved with one
    transaction. No timer: a lone command is decided and saved at once.

    One thread for every command instead of a thread each: with a thread per command, the commands of a
    busy service waited for each other's turn at the interpreter and for the hand-offs between the
    threads of a group commit, and a batch held no more commands than there were threads. A command runs
    to its end before the next starts: the jobs that walk many aggregates run in threads of their own.
    """

    def __init__(
        self, decide_batch: Callable[[Sequence[Callable[[], Any]]], list[Answer[Any]]], max_batch: int = 100
    ) -> None:
        self._decide_batch = decide_batch
        self.max_batch = max_batch
        self.on_batch: Callable[[int], None] | None = None  # told the size of each batch (metrics)
        self._ready = threading.Condition()
        self._queue: deque[_Call] = deque()
        self._thread: threading.Thread | None = None
        self._closed = False

    def handler(self, method: Callable[[Any], T]) -> Callable[[Any], Awaitable[T]]:
        """A bus handler running ``method`` (a command of the application) in the worker."""

        async def call(body: Any) -> T:
            return await self.run(method, body)

        call.__name__ = getattr(method, "__name__", "command")
        return call

    async def run(self, method: Callable[[Any], T], argument: Any) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        context = contextvars.copy_context()  # the caller's log correlation goes along
        with self._ready:
            if self._closed:
                raise RuntimeError("the command worker is closed")
            self._queue.append(_Call(functools.partial(context.run, method, argument), loop, future))
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="commands", daemon=True)
                self._thread.start()
            self._ready.notify()
        return await future

    @property
    def waiting(self) -> int:
        """Commands received and not yet taken into a batch."""
        return len(self._queue)

    def close(self) -> None:
        """Stop once the commands queued are answered."""
        with self._ready:
            self._closed = True
            self._ready.notify()
            thread = self._thread
        if thread is not None:
            thread.join()

    def _work(self) -> None:
        while True:
            with self._ready:
                while not self._queue and not self._closed:
                    self._ready.wait()
                if not self._queue:
                    return
                calls = [self._queue.popleft() for _ in range(min(len(self._queue), self.max_batch))]
            if self.on_batch is not None:
                self.on_batch(len(calls))
            try:
                answers = self._decide_batch([call.run for call in calls])
            except Exception as error:  # a bug in the batch itself: every command is answered with it
                answers = [Answer(None, error) for _ in calls]
            answered = list(zip(calls, answers, strict=True))
            for loop in {call.loop for call in calls}:
                settled = [(call, answer) for call, answer in answered if call.loop is loop]
                with contextlib.suppress(RuntimeError):  # the loop has closed: nobody awaits these
                    loop.call_soon_threadsafe(_settle, settled)


def _settle(settled: list[tuple[_Call, Answer[Any]]]) -> None:
    for call, answer in settled:
        if call.future.done():  # cancelled: the caller went away
            continue
        if answer.error is not None:
            call.future.set_exception(answer.error)
        else:
            call.future.set_result(answer.result)
