"""Reporting consumers and the monthly projections (R1–R3, R10) against real PostgreSQL and NATS.

Events are published onto the real JetStream streams exactly as the outbox relay would publish them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import nats
import pytest
from nats.aio.client import Client as NATS
from nats.js.errors import NotFoundError

from services.reporting.consumers import BatchRecorder
from services.reporting.main import open_pool
from services.reporting.projections import record
from shared import consumer as consumer_module
from shared.consumer import DurableConsumer
from shared.contracts import Envelope
from shared.database import ensure_database
from shared.settings import Settings
from shared.streams import delete_streams
from shared.subjects import stream_name
from tests.conftest import Requester, unique_settings, wait_for
from tests.integration.reporting_kit import Events, at, logged_all, publish, reporting_running

pytestmark = pytest.mark.integration


def row_of(reply: dict[str, Any], customer_id: str) -> dict[str, Any]:
    assert reply["ok"], reply
    rows = [r for r in reply["result"]["rows"] if r["customer_id"] == customer_id]
    assert len(rows) == 1, reply
    return rows[0]


async def test_r2_distributor_month_counts_every_event_once_despite_redelivery_and_restart(
    nc: NATS, settings: Settings, request_: Requester
) -> None:
    ev = Events()
    when = at(2026, 11, 10)
    dealer = ev.customer(at(2026, 10, 2), kind="dealer", code="EAST-D0001", grade="B")
    ev.product("P-1", when, "100.00", "60.00")
    order = ev.order(dealer, when, [("P-1", 10, "100.00"), ("P-1", 5, "100.00")])
    first = list(ev.made)
    ev.made.clear()
    ev.shipped(order, dealer, at(2026, 11, 12), "1000.00")
    ev.paid(order, dealer, at(2026, 11, 20), "400.00")
    ev.hold(dealer, at(2026, 11, 21), "2000.00", "200.00", end="converted")
    ev.hold(dealer, at(2026, 11, 22), "1000.00", "100.00", end="expired")
    ev.complaint(dealer, at(2026, 11, 23), "service", staff="sp-1", fine="150.00")
    ev.complaint(dealer, at(2026, 11, 24), "quality")
    second = list(ev.made)
    js = nc.jetstream()

    await publish(js, settings, first)
    async with reporting_running(settings) as service:
        await wait_for(lambda: logged_all(service, first))
    # Stopped mid-way; meanwhile the rest arrives, plus copies of the first half re-published after the
    # duplicate window (the relay's crash case): they reach the consumer again and must change nothing.
    await publish(js, settings, second)
    await publish(js, settings, first, msg_id_suffix="-again")
    async with reporting_running(settings) as service:
        await wait_for(lambda: logged_all(service, [*first, *second]))
        await wait_for(lambda: _all_acked(nc, settings))
        reply = await request_("reporting", "query", "distributor_monthly", {"period": "2026-11"})
        one = await request_(
            "reporting", "query", "distributor_monthly", {"period": "2026-11", "customer_id": dealer}
        )
        async with service.pool.acquire() as conn:
            logged = await conn.fetchval(
                "SELECT count(*) FROM reporting.event_log WHERE event_id = ANY($1::text[])",
                [e.event_id for e in [*first, *second]],
            )
            positions = dict(await conn.fetch("SELECT service, position FROM reporting.source_position"))
    assert logged == len(first) + len(second)
    assert positions == {
        "customers": ev.positions["customers"],
        "orders": ev.positions["orders"],
        "complaints": ev.positions["complaints"],
    }
    row = row_of(reply, dealer)
    assert row == row_of(one, dealer)
    assert len(one["result"]["rows"]) == 1
    expected = {
        "code": "EAST-D0001",
        "kind": "dealer",
        "grade": "B",
        "orders": 1,
        "ordered_amount": "1500.00",
        "shipped_amount": "1000.00",
        "paid_amount": "400.00",
        "deposits": "300.00",
        "holds_made": 2,
        "holds_converted": 1,
        "holds_expired": 1,
        "quality_complaints": 1,
        "service_complaints": 1,
        "fines": "150.00",
        "rank": 1,
    }
    assert {k: row[k] for k in expected} == expected


async def _all_acked(nc: NATS, settings: Settings) -> bool:
    js = nc.jetstream()
    for service in ("customers", "orders", "complaints"):
        info = await js.consumer_info(stream_name(settings.namespace, service), f"reporting-{service}")
        if info.num_pending or info.num_ack_pending:
            return False
    return True


async def test_r2_growth_rank_and_grade_with_out_of_order_and_early_events(
    nc: NATS, settings: Settings, request_: Requester
) -> None:
    ev = Events()
    big = ev.customer(at(2025, 1, 5), kind="agent", code="WEST-A0001", region="WEST", grade="C")
    small = ev.customer(at(2025, 1, 5), kind="dealer", code="WEST-D0001", region="WEST", grade=None)
    ev.order(
        big, at(2025, 4, 10), [("P-9", 1, "1000.00")], kind="agent", region="WEST"
    )  # same period last year
    ev.order(big, at(2026, 3, 10), [("P-9", 1, "800.00")], kind="agent", region="WEST")  # previous period
    ev.order(big, at(2026, 4, 10), [("P-9", 1, "1200.00")], kind="agent", region="WEST")
    ev.order(small, at(2026, 4, 11), [("P-9", 1, "300.00")])
    # A regrade to A (version 6) published BEFORE the regrade to B (version 5): the later version wins.
    to_b = ev.grade(big, at(2026, 4, 1), "B")
    to_a = ev.grade(big, at(2026, 4, 2), "A")
    # Orders of a customer whose own events come later are kept and joined when they arrive.
    early = "c-early-1"
    ev.order(early, at(2026, 4, 12), [("P-9", 2, "100.00")], region="WEST")
    ordered = [e for e in ev.made if e not in (to_a, to_b)]
    ev.made.clear()
    ev.customer(at(2026, 4, 1), kind="dealer", code="WEST-D0002", region="WEST", customer_id=early, grade="C")
    late = list(ev.made)
    js = nc.jetstream()
    async with reporting_running(settings) as service:
        await publish(js, settings, [*ordered, to_a])
        await wait_for(lambda: logged_all(service, [*ordered, to_a]))
        await publish(js, settings, [to_b])
        await wait_for(lambda: logged_all(service, [to_b]))
        before = await request_("reporting", "query", "distributor_monthly", {"period": "2026-04"})
        await publish(js, settings, late)
        await wait_for(lambda: logged_all(service, late))
        after = await request_("reporting", "query", "distributor_monthly", {"period": "2026-04"})
    top = row_of(before, big)
    assert (top["grade"], top["rank"], top["ordered_amount"]) == ("A", 1, "1200.00")
    assert top["previous_amount"] == "800.00" and top["growth_vs_previous"] == "0.5000"
    assert top["last_year_amount"] == "1000.00" and top["growth_vs_last_year"] == "0.2000"
    assert row_of(before, small)["rank"] == 2 and row_of(before, small)["growth_vs_previous"] is None
    # Before its registration the early customer shows with the order's kind, without code or grade.
    assert (row_of(before, early)["code"], row_of(before, early)["ordered_amount"]) == (None, "200.00")
    joined = row_of(after, early)
    assert (joined["code"], joined["grade"], joined["ordered_amount"], joined["rank"]) == (
        "WEST-D0002",
        "C",
        "200.00",
        3,
    )


async def test_r1_period_closes_on_the_28th_in_business_time(
    nc: NATS, settings: Settings, request_: Requester
) -> None:
    ev = Events()
    dealer = ev.customer(at(2027, 1, 5), kind="dealer", code="NORTH-D0001", region="NORTH")
    # 28 Feb 2027 23:30 Shanghai = 15:30 UTC → period 2027-02;
    # 1 Mar 00:10 Shanghai = 28 Feb 16:10 UTC → 2027-03.
    ev.order(dealer, at(2027, 2, 28, 15).replace(minute=30), [("P-1", 1, "10.00")])
    ev.order(dealer, at(2027, 2, 28, 16).replace(minute=10), [("P-1", 1, "20.00")])
    # 29 Jan 2027 Shanghai already counts for February.
    ev.order(dealer, at(2027, 1, 29), [("P-1", 1, "40.00")])
    async with reporting_running(settings) as service:
        await publish(nc.jetstream(), settings, ev.made)
        await wait_for(lambda: logged_all(service, ev.made))
        feb = await request_(
            "reporting", "query", "distributor_monthly", {"period": "2027-02", "customer_id": dealer}
        )
        mar = await request_(
            "reporting", "query", "distributor_monthly", {"period": "2027-03", "customer_id": dealer}
        )
    assert feb["result"]["starts_at"] == "2027-01-28T16:00:00+00:00"  # 29 Jan 00:00 Asia/Shanghai
    assert feb["result"]["ends_at"] == "2027-02-28T16:00:00+00:00"  # 1 Mar 00:00 (no 29 Feb in 2027)
    assert (row_of(feb, dealer)["orders"], row_of(feb, dealer)["ordered_amount"]) == (2, "50.00")
    assert (row_of(mar, dealer)["orders"], row_of(mar, dealer)["ordered_amount"]) == (1, "20.00")


async def test_r3_branch_month_capital_occupied_approvals_match_rate_and_alerts(
    nc: NATS, settings: Settings, request_: Requester
) -> None:
    ev = Events()
    branch = ev.customer(
        at(2027, 5, 2), kind="branch", code="SOUTH-B0001", region="SOUTH", capital_limit="100000.00"
    )
    when = at(2027, 6, 10)
    order = ev.order(branch, at(2027, 5, 20), [("P-1", 100, "500.00")], kind="branch", region="SOUTH")
    ev.shipped(order, branch, at(2027, 5, 21), "50000.00")
    big = ev.order(branch, when, [("P-1", 140, "500.00")], kind="branch", region="SOUTH", status="on_hold")
    ev.make(
        "orders",
        "Order",
        big,
        "OverLimitApproved",
        when,
        {"customer_id": branch, "amount": "70000.00", "capital_limit": "100000.00"},
    )
    ev.order_event(big, branch, when, "OrderReleased", rule="O7", by="md-1", status="accepted")
    ev.shipped(big, branch, when, "70000.00", status="shipped")
    ev.paid(order, branch, when, "10000.00")  # O7: 50,000 − 10,000 + the approved 70,000 are occupied
    for week, match_rate in (("2027-W23", "0.80"), ("2027-W24", "0.60")):
        matched = {"customer_id": branch, "week": week, "match_rate": match_rate}
        ev.make("orders", "Branch", f"rl-{branch}", "RequestListMatched", when, matched)
    ev.make(
        "orders",
        "Branch",
        f"stock-{branch}",
        "ReorderAlertRaised",
        when,
        {"customer_id": branch, "product_code": "P-1", "stock": 3, "reorder_point": 5},
    )
    async with reporting_running(settings) as service:
        await publish(nc.jetstream(), settings, ev.made)
        await wait_for(lambda: logged_all(service, ev.made))
        reply = await request_(
            "reporting", "query", "branch_monthly", {"period": "2027-06", "customer_id": branch}
        )
    assert reply["ok"], reply
    assert reply["result"]["rows"] == [
        {
            "customer_id": branch,
            "code": "SOUTH-B0001",
            "company_name": f"branch {branch[:6]}",
            "region": "SOUTH",
            "orders": 1,
            "ordered_amount": "70000.00",
            "orders_cancelled": 0,
            "cancelled_amount": "0.00",
            "credit_notes": 0,
            "returned_amount": "0.00",
            "shipped_amount": "70000.00",
            "paid_amount": "10000.00",
            "capital_occupied": "110000.00",
            "capital_limit": "100000.00",
            "over_capital_limit": True,
            "over_limit_approvals": 1,
            "request_list_match_rate": "0.7000",
            "request_lists_matched": 2,
            "reorder_alerts": 1,
        }
    ]


async def test_exactly_once_when_a_committed_batch_is_not_acknowledged(nc: NATS, settings: Settings) -> None:
    """The crash window: the batch committed but the ack never went out, so JetStream (here: the
    consumer's one-by-one retry) delivers the same messages again."""
    ev = Events()
    dealer = "c-crash-1"
    for day in range(1, 6):
        ev.order(dealer, at(2028, 3, day), [("P-1", 1, "10.00")])
    ensure_database(settings)  # run alone or first, the test makes the module's database itself
    pool = await open_pool(settings)
    recorder = BatchRecorder(pool, settings)
    calls = 0

    async def crash_after_commit(envelopes: Sequence[Envelope]) -> None:
        nonlocal calls
        calls += 1
        await recorder(envelopes)
        if calls == 1:
            raise ConnectionError("lost the connection before acknowledging")

    stop = asyncio.Event()
    # Its own connection: a pull subscription cannot be drained, so it is closed at the end.
    own = await nats.connect(settings.nats_url)
    consumer = DurableConsumer(own, settings, "reporting-crash", "orders", crash_after_commit)
    task = asyncio.create_task(consumer.run(stop))
    try:
        await publish(nc.jetstream(), settings, ev.made)

        async def done() -> bool:
            try:
                info = await nc.jetstream().consumer_info(
                    stream_name(settings.namespace, "orders"), consumer.durable
                )
            except NotFoundError:  # not created yet
                return False
            return calls > 1 and info.num_pending == 0 and info.num_ack_pending == 0

        await wait_for(done)
    finally:
        stop.set()
        await task
        await own.close()
        await recorder.close()
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT orders, ordered_amount FROM reporting.customer_period WHERE customer_id = $1", dealer
        )
    await pool.close()
    assert calls > 1 and consumer.parked == 0
    assert (row["orders"], row["ordered_amount"]) == (5, 50)


@dataclass
class Held:
    """A consumer of a fresh orders stream (``held_consumer``) whose handler holds each batch until
    ``release`` is set."""

    settings: Settings
    connection: NATS  # its own
    handled: list[int]  # the sizes of the batches it was handed
    release: asyncio.Event
    delivered: Callable[[int, int], Awaitable[bool]]  # (pending, unacknowledged) on the consumer
    stop: Callable[[], Awaitable[None]]  # releases what it holds and stops it

    def handed(self, *sizes: int) -> Callable[[], Awaitable[bool]]:
        async def batches() -> bool:
            return self.handled == list(sizes)

        return batches


@contextlib.asynccontextmanager
async def held_consumer(nc: NATS, backlog: Sequence[Envelope] = ()) -> AsyncIterator[Held]:
    """The ``backlog`` is on the stream before the consumer starts, so that it finds all of it at once."""
    settings = unique_settings()  # a stream of its own: nothing pending from the other tests
    handled: list[int] = []
    release = asyncio.Event()

    async def held(envelopes: Sequence[Envelope]) -> None:
        handled.append(len(envelopes))
        await release.wait()

    stopping = asyncio.Event()
    own = await nats.connect(settings.nats_url)
    consumer = DurableConsumer(own, settings, "reporting-held", "orders", held)
    js = nc.jetstream()

    async def delivered(pending: int, unacked: int) -> bool:
        try:
            info = await js.consumer_info(stream_name(settings.namespace, "orders"), consumer.durable)
        except NotFoundError:  # not created yet
            return False
        return info.num_pending == pending and info.num_ack_pending == unacked

    async def stop() -> None:
        stopping.set()
        release.set()
        await task

    if backlog:
        await publish(js, settings, backlog)
    task = asyncio.create_task(consumer.run(stopping))
    try:
        await wait_for(lambda: delivered(0, len(backlog)))
        yield Held(settings, own, handled, release, delivered, stop)
    finally:
        await stop()
        await own.close()
        await delete_streams(js, settings, ["orders"])


async def test_a_consumer_has_the_next_messages_on_hand_while_it_handles_a_batch(nc: NATS) -> None:
    """No request waits between two batches: what the stream stores meanwhile is delivered at once."""
    async with held_consumer(nc, backlog=daily_orders("c-held-1", 6, 10)) as held:
        await wait_for(held.handed(10))
        await publish(nc.jetstream(), held.settings, daily_orders("c-held-1", 6, 3))
        await wait_for(lambda: held.delivered(0, 13))  # the three new ones delivered while the batch is held
        assert held.handled == [10]
        held.release.set()
        await wait_for(lambda: held.delivered(0, 0))
        assert held.handled == [10, 3]


async def test_what_comes_while_a_batch_is_handled_is_the_next_batch(nc: NATS) -> None:
    async with held_consumer(nc) as held:
        await publish(nc.jetstream(), held.settings, daily_orders("c-held-1", 6, 1))
        await wait_for(held.handed(1))
        await publish(nc.jetstream(), held.settings, daily_orders("c-held-1", 6, 3))
        await wait_for(lambda: held.delivered(0, 4))
        held.release.set()
        await wait_for(lambda: held.delivered(0, 0))
        assert held.handled == [1, 3]  # what came meanwhile, in one batch


async def test_a_caught_up_consumer_asks_again_when_its_pull_request_expires(
    nc: NATS, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(consumer_module, "PULL_EXPIRES", 0.5)
    monkeypatch.setattr(consumer_module, "PULL_HEARTBEAT", 0.2)  # the server wants it below the expiry
    async with held_consumer(nc) as held:
        held.release.set()
        await asyncio.sleep(1.5)  # its first requests expired meanwhile, unfilled
        await publish(nc.jetstream(), held.settings, daily_orders("c-held-2", 6, 2))
        await wait_for(lambda: held.delivered(0, 0), timeout=2)
        assert sum(held.handled) == 2


async def test_messages_on_hand_when_a_consumer_stops_go_at_once_to_the_next_one(nc: NATS) -> None:
    """Given back (nak) as it stops, not left to wait out their ack deadline (30 s)."""
    async with held_consumer(nc) as held:
        js = nc.jetstream()
        await publish(js, held.settings, daily_orders("c-held-3", 6, 1))
        await wait_for(held.handed(1))
        await publish(js, held.settings, daily_orders("c-held-3", 6, 3))
        await wait_for(lambda: held.delivered(0, 4))
        await held.stop()  # the batch it held is acknowledged; the three on hand are given back
        taken: list[int] = []

        async def take(envelopes: Sequence[Envelope]) -> None:
            taken.append(len(envelopes))

        async def taken_over() -> bool:
            return sum(taken) == 3

        stop = asyncio.Event()
        after = DurableConsumer(held.connection, held.settings, "reporting-held", "orders", take)
        running = asyncio.create_task(after.run(stop))
        try:
            await wait_for(taken_over, timeout=5)
        finally:
            stop.set()
            await running
        assert held.handled == [1]


async def dealer_month(conn: asyncpg.Connection, dealer: str) -> tuple[Any, Any, Any]:
    row = await conn.fetchrow(
        "SELECT orders, ordered_amount FROM reporting.customer_period WHERE customer_id = $1", dealer
    )
    logged = await conn.fetchval(
        "SELECT count(*) FROM reporting.event_log WHERE data->>'customer_id' = $1", dealer
    )
    return row["orders"], row["ordered_amount"], logged


def daily_orders(dealer: str, month: int, days: int) -> list[Envelope]:
    """One order of 10.00 a day."""
    ev = Events()
    for day in range(1, days + 1):
        ev.order(dealer, at(2028, month, day), [("P-1", 1, "10.00")])
    return ev.made


async def test_a_batch_partly_logged_before_applies_only_its_new_envelopes(settings: Settings) -> None:
    dealer = "c-partly-1"
    batch = daily_orders(dealer, 4, 4)
    ensure_database(settings)  # run alone or first, the test makes the module's database itself
    pool = await open_pool(settings)
    try:
        async with pool.acquire() as conn:
            assert await record(conn, batch[:2], settings.period_mode) == 2
            assert await record(conn, batch, settings.period_mode) == 2  # the first two again, two new
            assert await dealer_month(conn, dealer) == (4, 40, 4)
    finally:
        await pool.close()


async def test_the_same_batch_recorded_by_two_sessions_at_once_applies_once(settings: Settings) -> None:
    """Two reporting instances handed the same messages (the first missed its ack deadline)."""
    dealer = "c-twice-1"
    batch = daily_orders(dealer, 5, 10)
    ensure_database(settings)  # run alone or first, the test makes the module's database itself
    pool = await open_pool(settings)

    async def one_session() -> int:
        async with pool.acquire() as conn:
            return await record(conn, batch, settings.period_mode)

    try:
        assert sorted(await asyncio.gather(one_session(), one_session())) == [0, 10]
        async with pool.acquire() as conn:
            assert await dealer_month(conn, dealer) == (10, 100, 10)
    finally:
        await pool.close()


async def test_a_recorder_keeps_its_connection_and_gives_it_back_after_a_failed_batch(
    settings: Settings,
) -> None:
    dealer = "c-kept-1"
    batch = daily_orders(dealer, 6, 3)
    ensure_database(settings)  # run alone or first, the test makes the module's database itself
    pool = await open_pool(settings)
    recorder = BatchRecorder(pool, settings)
    try:
        await recorder(batch[:1])
        kept = recorder.connection
        await recorder(batch[1:2])
        assert kept is not None and recorder.connection is kept
        unstorable = batch[2].model_copy(update={"aggregate_version": 2**40})  # the log's column is int
        with pytest.raises(asyncpg.DataError):
            await recorder([unstorable])
        assert recorder.connection is None  # terminated: the pool opens another for the next batch
        await recorder(batch[2:])
        await recorder.close()
        async with pool.acquire() as conn:
            assert await dealer_month(conn, dealer) == (3, 30, 3)
    finally:
        await recorder.close()
        await asyncio.wait_for(pool.close(), 10)  # closing waits for every connection to come back


async def test_r10_audit_trail_of_a_customer_on_the_bus(
    nc: NATS, settings: Settings, request_: Requester
) -> None:
    ev = Events()
    dealer = ev.customer(at(2028, 5, 2), kind="dealer", code="EAST-D0777", grade="C")
    ev.grade(dealer, at(2028, 5, 3), "A", reason="largest buyer of the quarter")
    order = ev.order(dealer, at(2028, 5, 4), [("P-1", 1, "10.00")])
    complaint = ev.complaint(dealer, at(2028, 5, 5), "service", fine="100.00", severity="minor")
    async with reporting_running(settings) as service:
        await publish(nc.jetstream(), settings, ev.made)
        await wait_for(lambda: logged_all(service, ev.made))
        trail = await request_("reporting", "query", "audit_trail", {"aggregate_id": dealer})
        own = await request_(
            "reporting", "query", "audit_trail", {"aggregate_id": complaint, "related": False}
        )
        bad = await request_("reporting", "query", "audit_trail", {"aggregate_id": ""})
    assert trail["ok"], trail
    entries = trail["result"]["entries"]
    assert [e["event_type"] for e in entries] == [
        "CustomerRegistered",
        "CreditInvestigated",
        "CustomerApproved",
        "CustomerGraded",
        "CustomerGraded",
        "OrderPlaced",
        "ComplaintLogged",
        "PenaltyIssued",
    ]
    regrade = entries[4]
    assert regrade["actor"] == {"id": "mgr-1", "role": "sales_manager"}
    assert regrade["reason"] == "largest buyer of the quarter"
    assert regrade["at"] == "2028-05-03T04:00:00+00:00"
    assert entries[5]["aggregate_id"] == order and entries[5]["own"] is False
    assert [e["event_type"] for e in own["result"]["entries"]] == [
        "ComplaintLogged",
        "ComplaintVerified",
        "PenaltyIssued",
    ]
    assert own["result"]["entries"][1]["reason"] == "rude on the phone"
    assert bad["ok"] is False and bad["error"]["code"] == "invalid"
