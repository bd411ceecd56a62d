"""The consumers' pull protocol measured: ``PullFeed`` (shared/consumer.py) beside nats-py's own
``pull_subscribe`` + ``fetch``, on the same stream, in one run.

``python -m deploy.bench.feeds [--messages N] [--rate R] [--seconds S]`` prints, for each way:
- **behind**: draining N stored messages in batches of 100 (messages/s, client CPU µs a message);
- **caught up**: messages published at R/s for S seconds, each taken as it comes (latency p50/p99 from
  publish to take).
Each way acknowledges every message, as the consumers do. Its own stream, removed at the end; the
record of what was measured is docs/decisions/0001-pull-feed.md.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

import nats
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

from deploy.bench.common import percentile
from shared.consumer import PullFeed
from shared.settings import Settings

BATCH = 100
Take = Callable[[float], Awaitable[list[Msg]]]


async def pull_feed(nc: NATS, stream: str, durable: str) -> Take:
    feed = PullFeed(nc, stream, durable, BATCH)
    await feed.start()
    return feed.take


async def nats_py_fetch(nc: NATS, stream: str, durable: str) -> Take:
    subscription = await nc.jetstream().pull_subscribe_bind(durable, stream=stream)

    async def take(timeout: float) -> list[Msg]:
        try:
            return await subscription.fetch(BATCH, timeout=timeout)
        except nats.errors.TimeoutError:
            return []

    return take


WAYS: dict[str, Callable[[NATS, str, str], Awaitable[Take]]] = {
    "PullFeed": pull_feed,
    "nats-py fetch": nats_py_fetch,
}


async def consumer(nc: NATS, stream: str) -> str:
    durable = f"feed-{uuid.uuid4().hex[:8]}"
    await nc.jetstream().add_consumer(
        stream, ConsumerConfig(durable_name=durable, ack_policy=AckPolicy.EXPLICIT, max_ack_pending=10_000)
    )
    return durable


async def behind(nc: NATS, stream: str, way: str, messages: int) -> tuple[float, float]:
    """Messages/s and client CPU µs a message, draining a stream of ``messages``."""
    take = await WAYS[way](nc, stream, await consumer(nc, stream))
    got, started, cpu = 0, time.perf_counter(), time.process_time()
    while got < messages:
        batch = await take(1.0)
        for msg in batch:
            await msg.ack()
        got += len(batch)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    return messages / seconds, cpu_seconds / messages * 1e6


async def caught_up(
    nc: NATS, stream: str, subject: str, way: str, rate: float, seconds: float
) -> tuple[float, float]:
    """Latency p50 and p99 (ms) from publish to take, at ``rate``/s."""
    take = await WAYS[way](nc, stream, await consumer(nc, stream))
    sent: dict[str, float] = {}
    latencies: list[float] = []
    stop = asyncio.Event()

    async def publish() -> None:
        js = nc.jetstream()
        began = time.perf_counter()
        for i in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, began + i / rate - time.perf_counter()))  # on schedule
            key = f"{way}-{i}"
            sent[key] = time.perf_counter()
            await js.publish(subject, key.encode())
        stop.set()

    publisher = asyncio.create_task(publish())
    taken = 0
    while not (stop.is_set() and taken >= len(sent)):
        for msg in await take(0.5):
            key = msg.data.decode()
            if key in sent:
                latencies.append((time.perf_counter() - sent[key]) * 1000)
                taken += 1
            await msg.ack()
    await publisher
    return percentile(latencies, 0.5), percentile(latencies, 0.99)


async def run(messages: int, rate: float, seconds: float) -> None:
    settings = Settings()
    nc = await nats.connect(settings.nats_url)
    js = nc.jetstream()
    token = uuid.uuid4().hex[:8]
    try:
        for way in WAYS:
            stream, subject = f"FEEDS_{token}_{way.split()[0].upper()}", f"feeds{token}.{way.split()[0]}"
            await js.add_stream(StreamConfig(name=stream, subjects=[subject]))
            payload = b"x" * 600
            for i in range(0, messages, 1000):
                acks = [await js.publish_async(subject, payload) for _ in range(min(1000, messages - i))]
                await asyncio.gather(*acks)
            rate_behind, cpu_behind = await behind(nc, stream, way, messages)
            await js.delete_stream(stream)
            await js.add_stream(StreamConfig(name=stream, subjects=[subject]))
            p50, p99 = await caught_up(nc, stream, subject, way, rate, seconds)
            await js.delete_stream(stream)
            print(
                f"{way:14} behind: {rate_behind:9,.0f} msgs/s, {cpu_behind:5.0f} µs CPU/msg | caught up at "
                f"{rate:.0f}/s: p50 {p50:.2f} ms, p99 {p99:.2f} ms",
                flush=True,
            )
    finally:
        await nc.drain()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m deploy.bench.feeds", description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    asyncio.run(run(args.messages, args.rate, args.seconds))


if __name__ == "__main__":
    main()
