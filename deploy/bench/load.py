"""The load of part (1): ``place_order`` commands over NATS, a number of them in flight at a time
(saturation) or at a steady rate (open loop)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from deploy.bench.common import STEADY_WARMUP, Client, order_body


async def place_orders(
    client: Client, customers: list[str], count: int, in_flight: int, offset: int
) -> tuple[float, list[float], list[str]]:
    """``count`` place_order commands, ``in_flight`` at a time: (seconds, latencies ms, order ids)."""
    latencies: list[float] = []
    ids: list[str] = []
    failures: list[dict[str, Any]] = []
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while next_index < count:
            i = offset + next_index
            next_index += 1
            started = time.perf_counter()
            reply = await client.call(
                "orders", "cmd", "place_order", order_body(customers[i % len(customers)], i)
            )
            latencies.append((time.perf_counter() - started) * 1000)
            if reply.get("ok"):
                ids.append(reply["result"]["id"])
            else:
                failures.append(reply)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    seconds = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} commands refused, e.g. {failures[0]}")
    return seconds, latencies, ids


@dataclass(frozen=True)
class Steady:
    ids: list[str]
    spans: list[tuple[float, float]]  # each command's scheduled start and its reply, time.monotonic()
    wall: float  # add to a span's times for epoch seconds
    sent: int  # commands sent, the warm-up's included

    @property
    def latencies(self) -> list[float]:
        """ms, from each command's scheduled start."""
        return [(done - scheduled) * 1000 for scheduled, done in self.spans]


async def steady_orders(
    client: Client, customers: list[str], rate: float, seconds: float, offset: int
) -> Steady:
    """Open loop at ``rate`` commands/s: latency counted from each command's scheduled start, so a stall
    delays the ones behind it (no coordinated omission). The first ``STEADY_WARMUP`` seconds at the same
    rate are not counted: the steady state, not the start of the run."""
    warm = int(rate * STEADY_WARMUP)
    count = warm + int(rate * seconds)
    run = Steady([], [], time.time() - time.monotonic(), count)
    loop = asyncio.get_running_loop()  # its clock is time.monotonic()
    start = loop.time() + 0.05

    async def one(i: int) -> None:
        scheduled = start + i / rate
        await asyncio.sleep(max(0.0, scheduled - loop.time()))
        reply = await client.call(
            "orders", "cmd", "place_order", order_body(customers[(offset + i) % len(customers)], offset + i)
        )
        if not reply.get("ok"):
            raise RuntimeError(f"refused: {reply}")
        if i >= warm:
            run.ids.append(reply["result"]["id"])
            run.spans.append((scheduled, loop.time()))

    await asyncio.gather(*(one(i) for i in range(count)))
    return run
