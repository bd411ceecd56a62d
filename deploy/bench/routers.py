"""The request router measured: the project's route (``shared/bus.py``: a nats-py subscription whose
callback validates the body with pydantic and answers) beside a FastStream subscriber doing the same.

``python -m deploy.bench.routers [--requests N] [--in-flight K]`` prints round trips/s and the CPU µs a
request of client and route together (one process: the client's share is the same for both). The
record of what was measured is docs/decisions/0002-request-router.md.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

import nats
import orjson
from faststream.nats import NatsBroker
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from pydantic import BaseModel

from shared.settings import Settings


class Echo(BaseModel):
    customer_id: str
    quantity: int


async def plain_route(nc: NATS, subject: str) -> Callable[[], Awaitable[None]]:
    async def answer(msg: Msg) -> None:
        body = Echo.model_validate_json(msg.data)
        await msg.respond(orjson.dumps({"ok": True, "result": body.model_dump()}))

    subscription = await nc.subscribe(subject, queue="bench", cb=answer)
    return subscription.unsubscribe


async def faststream_route(nc: NATS, subject: str) -> Callable[[], Awaitable[None]]:
    broker = NatsBroker(Settings().nats_url, logger=None)

    @broker.subscriber(subject, queue="bench")
    async def answer(body: Echo) -> dict[str, object]:
        return {"ok": True, "result": body.model_dump()}

    await broker.start()
    return broker.stop


ROUTES = {"shared.bus (nats-py)": plain_route, "FastStream subscriber": faststream_route}


async def measure(nc: NATS, way: str, requests: int, in_flight: int) -> tuple[float, float]:
    subject = f"routers{uuid.uuid4().hex[:8]}.echo"
    stop = await ROUTES[way](nc, subject)
    payload = orjson.dumps({"customer_id": "C-1", "quantity": 3})
    await nc.request(subject, payload, timeout=5)  # warm
    left = requests

    async def client() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await nc.request(subject, payload, timeout=10)

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(client() for _ in range(in_flight)))
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    await stop()
    return requests / seconds, cpu_seconds / requests * 1e6


async def run(requests: int, in_flight: int) -> None:
    nc = await nats.connect(Settings().nats_url)
    try:
        for _ in range(2):  # twice, alternating, so that a slow spell of the host shows
            for way in ROUTES:
                rate, cpu = await measure(nc, way, requests, in_flight)
                print(f"{way:22} {rate:8,.0f} round trips/s, {cpu:5.0f} µs CPU a request (both ends)")
    finally:
        await nc.drain()


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.bench.routers", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--in-flight", type=int, default=16)
    args = parser.parse_args()
    asyncio.run(run(args.requests, args.in_flight))


if __name__ == "__main__":
    main()
