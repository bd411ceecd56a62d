"""Parts (1) and (2): ``place_order`` at saturation and at a steady rate, and commit → projection
latency, each beside the application saving directly and raw JetStream propagation."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import nats
import psycopg
from nats.aio.client import Client as NATS

from deploy.bench.common import (
    GM,
    IN_FLIGHT,
    PRODUCT_CODES,
    PRODUCTION,
    SERVICES,
    STEADY_RATE,
    Client,
    Figure,
    Results,
    Sizes,
    bench_settings,
    order_body,
    percentile,
    process_env,
    wait_until,
)
from deploy.bench.cpu import BACKENDS, CpuUse, add_cpu_figures, backends_query, cpu_during, idle_note
from deploy.bench.host import collector_paused, host_stalls, profiled
from deploy.bench.load import Steady, place_orders, steady_orders
from deploy.bench.seed import Customers, publish
from deploy.bench.verification import verification_cost
from deploy.local.processes import ServiceProcesses, wait_ready
from services.orders import commands as c
from services.orders.application import OrdersApplication
from services.orders.customer_view import InMemoryCustomerDirectory
from shared.clock import SystemClock
from shared.contracts import Actor, Role
from shared.database import drop_database, ensure_database
from shared.orders_contract import OrderPlaced
from shared.outbox import MSG_ID
from shared.settings import Settings
from shared.streams import delete_streams
from shared.subjects import events_wildcard, stream_name

# ------------------------------------------------------------------------------------ (1) and (2) commands


EVENTS_TABLE = f"orders.{OrdersApplication.name.lower()}_events"
IDLE_SECONDS = 5.0


@dataclass(frozen=True)
class Propagation:
    """Per order, in ms: from its commit (``recorded_at``, stamped by the orders store's insert just before
    it commits) to ``consumed_at`` of its row in reporting's event log (the start of the one transaction
    that logs the batch and updates the projections); the first part of that, commit → stored on the
    stream (the JetStream message's timestamp); and from the decision (the event's own time)."""

    from_commit: list[float]
    to_stream: list[float]
    from_decision: list[float]
    moments: dict[str, tuple[float, float]]  # order id -> (decided, committed), epoch seconds


async def stream_times(nc: NATS, settings: Settings) -> dict[int, float]:
    """Notification id → when the orders stream stored its event (epoch seconds)."""
    js = nc.jetstream()
    last = (await js.stream_info(stream_name(settings.namespace, "orders"))).state.last_seq
    subscription = await js.subscribe(events_wildcard(settings.namespace, "orders"), ordered_consumer=True)
    stored: dict[int, float] = {}
    try:
        while True:
            msg = await subscription.next_msg(timeout=10)
            stored[int((msg.headers or {})[MSG_ID].rsplit("-", 1)[1])] = msg.metadata.timestamp.timestamp()
            if msg.metadata.sequence.stream >= last:
                return stored
    finally:
        await subscription.unsubscribe()


async def all_logged(conn: asyncpg.Connection, ids: list[str], timeout: float = 120.0) -> None:
    """Until reporting has logged (and projected) every one of these orders."""

    async def logged() -> bool:
        found = await conn.fetchval(
            "SELECT count(*) FROM reporting.event_log WHERE service = $2 AND event_type = $3 "
            "AND aggregate_id = ANY($1::text[])",
            ids,
            *OrderPlaced.key(),
        )
        return bool(found >= len(ids))

    await wait_until(logged, timeout, "reporting to log every order")


async def propagation(conn: asyncpg.Connection, nc: NATS, settings: Settings, ids: list[str]) -> Propagation:
    await all_logged(conn, ids)
    rows = await conn.fetch(
        "SELECT log.position, log.aggregate_id, extract(epoch FROM stored.recorded_at) AS committed, "
        "extract(epoch FROM log.occurred_at) AS decided, extract(epoch FROM log.consumed_at) AS consumed "
        f"FROM reporting.event_log log JOIN {EVENTS_TABLE} stored ON stored.notification_id = log.position "
        "WHERE log.service = $2 AND log.event_type = $3 AND aggregate_id = ANY($1::text[])",
        ids,
        *OrderPlaced.key(),
    )
    on_stream = await stream_times(nc, settings)
    ms = [
        (float(r["committed"]), on_stream[r["position"]], float(r["decided"]), float(r["consumed"]))
        for r in rows
    ]
    return Propagation(
        [(consumed - committed) * 1000 for committed, _, _, consumed in ms],
        [(streamed - committed) * 1000 for committed, streamed, _, _ in ms],
        [(consumed - decided) * 1000 for _, _, decided, consumed in ms],
        {r["aggregate_id"]: (float(r["decided"]), float(r["committed"])) for r in rows},
    )


@dataclass(frozen=True)
class Direct:
    rate: float  # commands/s
    latencies: list[float]  # ms
    cpu_ms: float  # CPU per command: the thread deciding and saving, and the PostgreSQL backends


def direct_baseline(settings: Settings, customers: Customers, count: int) -> Direct:
    """The eventsourcing application saving the same aggregates directly: the same place_order
    (decide + one save of order and account), one after another, no bus."""
    ensure_database(settings, ["orders"])
    directory = InMemoryCustomerDirectory()
    for envelope in customers.envelopes:
        directory.apply(envelope)
    app = OrdersApplication(settings, SystemClock(), directory)  # type: ignore[arg-type]
    try:
        gm = Actor(id="gm-1", role=Role.GENERAL_MANAGER)
        for code in PRODUCT_CODES:
            app.list_product(
                c.ListProduct(
                    actor=gm,
                    product_code=code,
                    name=code,
                    spec="std",
                    list_price=Decimal("100.00"),
                    standard_cost=Decimal("60.00"),
                )
            )
            app.receive_stock(
                c.ReceiveStock(
                    actor=Actor(id="prod-1", role=Role.PRODUCTION), product_code=code, quantity=1_000_000
                )
            )
        commands = [
            c.PlaceOrder.model_validate(order_body(customers.ids[i % len(customers.ids)], i))
            for i in range(count)
        ]
        for cmd in commands[:100]:  # warm-up
            app.place_order(cmd)
        latencies = []
        with psycopg.connect(settings.postgres_dsn, autocommit=True) as conn:
            pids = [pid for (pid,) in conn.execute(backends_query("%s"), [settings.postgres_db])]
        backends = CpuUse({BACKENDS: pids})
        backends.start()
        thread_before = time.thread_time()
        started = time.perf_counter()
        for cmd in commands[100:]:
            before = time.perf_counter()
            app.place_order(cmd)
            latencies.append((time.perf_counter() - before) * 1000)
        seconds = time.perf_counter() - started
        cpu = time.thread_time() - thread_before
        backends.stop(backends.parts)
        cpu += backends.seconds[BACKENDS]
        return Direct((count - 100) / seconds, latencies, 1000 * cpu / (count - 100))
    finally:
        app.close()


async def part_commands(results: Results, sizes: Sizes, token: str, log_dir: Path) -> None:
    settings = bench_settings(token, "live")
    base_settings = bench_settings(token, "direct")
    customers = Customers.make(sizes.customers)
    processes = ServiceProcesses(process_env(settings), log_dir)
    second = ServiceProcesses(process_env(settings), log_dir / "second")
    nc = await nats.connect(settings.nats_url)
    try:
        await asyncio.to_thread(ensure_database, settings, ["orders"])
        await publish(nc.jetstream(), settings, customers.envelopes)
        for service in ("orders", "reporting"):
            processes.start(service)
        for service in ("orders", "reporting"):
            await wait_ready(nc, settings.namespace, service)
        client = Client(nc, settings)
        for code in PRODUCT_CODES:
            await client.ok(
                "orders",
                "cmd",
                "list_product",
                {
                    "actor": GM,
                    "product_code": code,
                    "name": code,
                    "spec": "std",
                    "list_price": "100.00",
                    "standard_cost": "60.00",
                },
            )
            await client.ok(
                "orders",
                "cmd",
                "receive_stock",
                {"actor": PRODUCTION, "product_code": code, "quantity": 1_000_000},
            )
        db = await asyncpg.connect(settings.postgres_dsn)
        try:

            async def view_complete() -> bool:
                with contextlib.suppress(asyncpg.UndefinedTableError):
                    n = await db.fetchval(
                        "SELECT count(*) FROM orders.customer_view WHERE status = 'approved'"
                    )
                    return bool(n >= len(customers.ids))
                return False

            await wait_until(view_complete, 60, "orders' customer view")
            _, _, warm_ids = await place_orders(client, customers.ids, 300, 16, offset=0)  # warm-up
            offset = 300
            await all_logged(db, warm_ids)
            services = {name: processes.running[name].pid for name in ("orders", "reporting")}

            # What the processes burn with nothing to do: a loop polling instead of waiting shows here.
            print(f"(1) commands: idle for {IDLE_SECONDS:.0f} s", flush=True)
            async with cpu_during(db, settings, services) as idle_cpu:
                await asyncio.sleep(IDLE_SECONDS)

            # The steady run first: the steady state of a service, not of one still busy with the overload
            # of the saturation run (right after 20,000 commands at saturation, its p50 was 2-3x higher).
            print("(1) commands: steady 200/s", flush=True)
            with (
                profiled(processes, ("orders", "reporting"), "steady"),
                collector_paused(),
                host_stalls() as steady_stalls,
            ):
                async with cpu_during(db, settings, services) as steady_cpu:
                    steady = await steady_orders(
                        client, customers.ids, STEADY_RATE, sizes.steady_seconds, offset
                    )
                    await all_logged(db, steady.ids)
            steady_prop = await propagation(db, nc, settings, steady.ids)
            offset += steady.sent

            print("(1) commands: saturation, 64 in flight", flush=True)
            with (
                profiled(processes, ("orders", "reporting"), "saturation"),
                collector_paused(),
                host_stalls() as saturation_stalls,
            ):
                # Until reporting has every order: the work the commands leave behind counts too.
                async with cpu_during(db, settings, services) as saturation_cpu:
                    seconds, latencies, sat_ids = await place_orders(
                        client, customers.ids, sizes.saturation_commands, IN_FLIGHT, offset
                    )
                    await all_logged(db, sat_ids)
            offset += sizes.saturation_commands
            rate = sizes.saturation_commands / seconds
            sat_prop = await propagation(db, nc, settings, sat_ids)

            # What a second orders process in the queue group adds on these 2 cores (not a target).
            print("(1) commands: saturation, 64 in flight, two orders processes", flush=True)
            second.start("orders")
            relay_name = f"orders-relay-{second.running['orders'].pid}"

            async def second_serving() -> bool:  # it subscribes its routes before its relay connects
                return bool(
                    await db.fetchval(
                        "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", relay_name
                    )
                )

            await wait_until(second_serving, 60, "the second orders process")
            with collector_paused():
                seconds_two, _, _ = await place_orders(
                    client, customers.ids, sizes.saturation_commands, IN_FLIGHT, offset
                )
            rate_two = sizes.saturation_commands / seconds_two
            offset += sizes.saturation_commands
            second.stop_all()
            processes.stop("orders")
            verification = await verification_cost(
                client, db, settings, customers.ids, sizes, offset, log_dir
            )
        finally:
            await db.close()
        processes.stop_all()
        second.stop_all()

        results.notes.append(
            f"The machine during the steady 200/s run: {steady_stalls.describe()}; during the saturation "
            f"run: {saturation_stalls.describe()}."
        )
        print("(1) baseline: the application saving directly", flush=True)
        direct_run = await asyncio.to_thread(
            direct_baseline, base_settings, customers, sizes.baseline_commands
        )
        baseline, direct = direct_run.rate, direct_run.latencies
        raw_prop = await raw_propagation(nc, base_settings, STEADY_RATE, 3.0)
        results.add(
            Figure(
                "1 commands",
                "place_order over NATS, 64 in flight",
                rate,
                "commands/s",
                baseline,
                "application.place_order direct, one save each, 1 thread",
                "≥ 1,500/s and ≥ 1.7×",
                rate >= 1500 and rate / baseline >= 1.7,
            )
        )
        results.add(
            Figure(
                "1 commands",
                "place_order over NATS, 64 in flight, two orders processes",
                rate_two,
                "commands/s",
                baseline,
                "application.place_order direct, one save each, 1 thread",
                "",
                None,
            )
        )
        add_cpu_figures(results, saturation_cpu, steady_cpu, len(sat_ids), steady.sent, direct_run.cpu_ms)
        results.notes.append(idle_note(idle_cpu, IDLE_SECONDS))
        verification.add_figures(results)
        direct_name = "one direct place_order"
        for label, values in (("64 in flight", latencies), ("200/s", steady.latencies)):
            for share in (0.5, 0.99):
                value = percentile(values, share)
                steady_p99 = label == "200/s" and share == 0.99
                results.add(
                    Figure(
                        "1 commands",
                        f"latency p{round(share * 100)} at {label}",
                        value,
                        "ms",
                        percentile(direct, share),
                        f"p{round(share * 100)} of {direct_name}",
                        "≤ 10 ms" if steady_p99 else "",
                        value <= 10 if steady_p99 else None,
                    )
                )
        results.notes.append(tail_note(steady, steady_prop))
        if steady_stalls.disk is not None:
            # Not a target: what the services do while the disk answers (the figure above counts it all).
            undelayed = [
                latency
                for latency, span in zip(steady.latencies, steady.spans, strict=True)
                if not steady_stalls.met_a_stall(*span)
            ]
            results.add(
                Figure(
                    "1 commands",
                    f"latency p99 at 200/s of the {len(undelayed):,} of {len(steady.spans):,} commands "
                    "that met no disk stall",
                    percentile(undelayed, 0.99),
                    "ms",
                    percentile(direct, 0.99),
                    f"p99 of {direct_name}",
                )
            )
        for label, prop, limit in (("200/s", steady_prop, 10.0), ("saturation", sat_prop, 50.0)):
            for share in (0.5, 0.99):
                value = percentile(prop.from_commit, share)
                pct = f"p{round(share * 100)}"
                results.add(
                    Figure(
                        "2 propagation",
                        f"commit → projection {pct} at {label}",
                        value,
                        "ms",
                        percentile(raw_prop, share),
                        f"{pct} of a raw JetStream publish → delivery at 200/s",
                        f"≤ {limit:.0f} ms" if share > 0.5 else "",
                        value <= limit if share > 0.5 else None,
                    )
                )
            # Not targets: a part of the figure, and one that includes the wait for the commit.
            for name, values in (
                ("commit → on the stream", prop.to_stream),
                ("decision → projection", prop.from_decision),
            ):
                value = percentile(values, 0.99)
                results.add(
                    Figure(
                        "2 propagation",
                        f"{name} p99 at {label}",
                        value,
                        "ms",
                        percentile(raw_prop, 0.99),
                        "p99 of a raw JetStream publish → delivery at 200/s",
                    )
                )
    finally:
        processes.stop_all()
        second.stop_all()
        await delete_streams(nc.jetstream(), settings, SERVICES)
        await nc.close()
        for s in (settings, base_settings):
            await asyncio.to_thread(drop_database, s)


def tail_note(steady: Steady, prop: Propagation) -> str:
    """Where the slowest 1 % of the steady run's commands spent their time, beside every command's: from the
    scheduled start to the decision (the client, NATS, the route, the wait for the command worker), from
    the decision to the insert (deciding, the batch's other commands, the save's statements), and from the
    insert to the reply (the commit's WAL flush, the hand-back to the event loop, the reply through NATS)."""
    legs = []
    for order, (scheduled, done) in zip(steady.ids, steady.spans, strict=True):
        decided, committed = prop.moments[order]
        start, reply = scheduled + steady.wall, done + steady.wall
        legs.append(
            (
                (reply - start) * 1000,
                (decided - start) * 1000,
                (committed - decided) * 1000,
                (reply - committed) * 1000,
            )
        )
    legs.sort()
    tail = legs[-max(1, len(legs) // 100) :]

    def medians(rows: list[tuple[float, float, float, float]]) -> str:
        return ", ".join(f"{percentile([r[i] for r in rows], 0.5):.1f}" for i in (1, 2, 3))

    return (
        f"The 200/s tail: the slowest 1 % ({len(tail)} commands, {tail[0][0]:.1f}–{tail[-1][0]:.1f} ms) "
        f"spent (medians, ms) {medians(tail)} from the scheduled start to the decision, from the decision to "
        f"the insert and from the insert to the reply; every command {medians(legs)}."
    )


async def raw_propagation(nc: NATS, settings: Settings, rate: float, seconds: float) -> list[float]:
    """Baseline of (2): a JetStream publish to a stream → its delivery to a subscriber, at ``rate``/s."""
    from nats.js.api import StreamConfig

    js = nc.jetstream()
    name, subject = f"{settings.namespace}_PROP", f"{settings.namespace}.prop.e"
    await js.add_stream(StreamConfig(name=name, subjects=[f"{settings.namespace}.prop.>"]))
    sent: dict[bytes, float] = {}
    latencies: list[float] = []

    async def received(msg: Any) -> None:
        latencies.append((time.perf_counter() - sent[msg.data[:16]]) * 1000)
        await msg.ack()

    subscription = await js.subscribe(subject, cb=received, manual_ack=True)
    count = int(rate * seconds)

    async def all_received() -> bool:
        return len(latencies) >= count

    try:
        for i in range(count):
            key = f"{i:016d}".encode()
            sent[key] = time.perf_counter()
            await js.publish(subject, key + b"x" * 600)
            await asyncio.sleep(max(0.0, 1 / rate - (time.perf_counter() - sent[key])))
        await wait_until(all_received, 10, "raw deliveries")
    finally:
        await subscription.unsubscribe()
        await js.delete_stream(name)
    return latencies
