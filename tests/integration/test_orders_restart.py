"""Orders across restarts and racing instances: hold expiry picks up where it left off and never acts
twice (O9); racing holds never oversell (O8/O9); the customer view is rebuilt from the bus after its
tables are dropped, and then decides the same (O4, O6)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from nats.aio.client import Client as NATS

from services.orders.application import OrdersApplication
from services.orders.commands import GetAccount, GetProduct, PlaceOrder, ReserveGoods
from services.orders.customer_view import CustomerViewProjector, PostgresCustomerDirectory, drop_view
from shared.clock import FixedClock
from shared.contracts import Actor, Role
from shared.database import drop_database, ensure_database
from shared.errors import DomainError
from shared.settings import Settings
from tests.builders import SALES_MANAGER, SYSTEM
from tests.conftest import Requester, unique_settings, wait_for
from tests.integration.orders_kit import Orders, customers_running, orders_running

pytestmark = pytest.mark.integration

START = datetime(2026, 11, 10, 2, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def settings() -> Iterator[Settings]:
    value = unique_settings(hold_expiry_check_seconds=0.2)
    yield value
    drop_database(value)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def orders(request_: Requester) -> Orders:
    return Orders(request_)


def stored_event_types(app: OrdersApplication, aggregate_id: str) -> list[str]:
    return [e.topic.rsplit(".", 1)[-1] for e in app.recorder.select_events(UUID(aggregate_id))]


async def test_o9_hold_expires_after_a_process_restart_and_never_twice(
    settings: Settings, nc: NATS, clock: FixedClock, orders: Orders
) -> None:
    async with customers_running(settings, clock):
        async with orders_running(settings, clock):
            dealer = await orders.customer()
            product = await orders.product(quantity=10)
            hold = await orders.reserve(dealer, product, 6, "60.00")
        # the service is down when the hold falls due
        clock.advance(timedelta(hours=72))
        first, second = (
            OrdersApplication(settings, clock, PostgresCustomerDirectory(settings)) for _ in range(2)
        )
        try:  # two expiry runs at once (two instances): one expires the hold, the other finds nothing to do
            results = await asyncio.gather(
                asyncio.to_thread(first.expire_due_reservations),
                asyncio.to_thread(second.expire_due_reservations),
            )
            # this hold expired by one of them, once (a due hold of the module's other test may go too)
            assert sorted(r.count(hold["id"]) for r in results) == [0, 1]
            assert first.expire_due_reservations() == []
            assert stored_event_types(first, hold["id"]).count("ReservationExpired") == 1
        finally:
            first.close()
            second.close()

        async with orders_running(
            settings, clock
        ) as running:  # restarted: the job runs and finds nothing due
            await asyncio.sleep(0.5)
            assert (await orders.ok("expire_reservations", {"actor": SYSTEM})) == {"expired": []}
            assert stored_event_types(running.app, hold["id"]).count("ReservationExpired") == 1
            stock = await orders.query("get_product", {"product_code": product})
            assert (stock["on_hand"], stock["available"]) == (10, 10)  # released once, not twice
            assert (await orders.query("get_account", {"customer_id": dealer}))["credit"] == "60.00"

            # a hold made now and the process restarted before it is due: the new process expires it
            late = await orders.reserve(dealer, product, 2, "20.00")
        clock.advance(timedelta(hours=72))
        async with orders_running(settings, clock) as running:

            async def expired() -> bool:
                return (await orders.query("get_reservation", {"reservation_id": late["id"]}))[
                    "status"
                ] == "expired"

            await wait_for(expired)
            assert stored_event_types(running.app, late["id"]).count("ReservationExpired") == 1


async def test_orders_customer_view_rebuilt_from_the_bus_decides_the_same(
    settings: Settings, nc: NATS, clock: FixedClock, orders: Orders
) -> None:
    async with customers_running(settings, clock):
        async with orders_running(settings, clock):
            contracted = await orders.customer("dealer", credit_limit="1000")
            uncontracted = await orders.customer("dealer", contract=False)
            product = await orders.product(quantity=100)
            before = [
                await orders.query("get_customer_view", {"customer_id": c})
                for c in (contracted, uncontracted)
            ]
            placed = [
                await orders.order(contracted, product, quantity=5),
                await orders.order(contracted, product, quantity=6),  # 500 + 600 > credit limit 1,000
                await orders.order(uncontracted, product, quantity=1),
            ]
            assert [o["status"] for o in placed] == ["accepted", "on_hold", "pending_contract"]

        await drop_view(settings, nc)
        async with orders_running(settings, clock):
            for customer_id, view in zip((contracted, uncontracted), before, strict=True):
                await orders.known(customer_id, view["version"])
            after = [
                await orders.query("get_customer_view", {"customer_id": c})
                for c in (contracted, uncontracted)
            ]
            assert after == before
            cancel = {"actor": SALES_MANAGER, "order_id": placed[1]["id"], "reason": "over the limit"}
            await orders.ok("cancel_order", cancel)
            again = [  # 500 + 500 fits the limit of 1,000 only if the rebuilt view knows it
                (await orders.order(contracted, product, quantity=5))["status"],
                (await orders.order(uncontracted, product, quantity=1))["status"],
            ]
            assert again == ["accepted", "pending_contract"]


async def test_orders_customer_view_in_postgres_tolerates_redelivery_and_out_of_order(
    settings: Settings, nc: NATS
) -> None:
    from tests.unit.orders_kit import customer_events, envelope

    ensure_database(settings, ["orders"])
    signed: list[str] = []

    async def on_contract(customer_id: str) -> None:
        signed.append(customer_id)

    projector = CustomerViewProjector(settings, on_contract)
    await projector.open()
    directory = PostgresCustomerDirectory(settings)
    try:
        events = [*customer_events("c-ooo"), envelope("c-ooo", 5, "CustomerSuspended", {"reason": "x"})]
        await projector.handle([events[4], events[2]])  # suspension and approval before the registration
        assert directory.get("c-ooo") is None  # nobody to decide for until the registration arrives
        await projector.handle([events[0], events[3], events[4]])
        await projector.handle([events[1], events[0]])
        snapshot = directory.get("c-ooo")
        assert snapshot is not None
        assert (snapshot.status, snapshot.credit_limit, snapshot.version) == (
            "suspended",
            Decimal("1000.00"),
            5,
        )
        assert snapshot.contract_valid_to == date(2026, 12, 31)
        assert signed == ["c-ooo"]
    finally:
        directory.close()
        await projector.close()


async def test_orders_customer_view_kept_in_memory_is_forgotten_when_any_instance_changes_it(
    settings: Settings, nc: NATS
) -> None:
    """O1/O6 decide on the customer's current status: a snapshot kept between commands must not outlive a
    change, whether this process's view writer made it or another instance's (through NOTIFY)."""
    from tests.unit.orders_kit import customer_events, envelope

    ensure_database(settings, ["orders"])
    here = PostgresCustomerDirectory(settings)
    elsewhere = CustomerViewProjector(settings)  # another instance's writer: it cannot reach `here`
    local = CustomerViewProjector(settings, on_changed=here.forget)
    await elsewhere.open()
    await local.open()
    try:
        await elsewhere.handle(customer_events("c-kept")[:3])
        here.get("c-kept")  # opens the pool and starts the listener

        async def listening() -> bool:
            return here.listening

        await wait_for(listening, timeout=10)
        kept = here.get("c-kept")
        assert kept is not None and kept.status == "approved"
        # Kept: a row changed behind the writers' backs (no notification) is not read again.
        with here.pool.connection() as conn:
            conn.execute("UPDATE orders.customer_view SET status = 'tampered' WHERE customer_id = 'c-kept'")
        assert here.get("c-kept") == kept

        await elsewhere.handle([envelope("c-kept", 4, "CustomerSuspended", {"reason": "overdue"})])

        async def suspended() -> bool:
            snapshot = here.get("c-kept")
            return snapshot is not None and snapshot.status == "suspended"

        await wait_for(suspended, timeout=10)
        # This process's own writer forgets at once, before its handle() returns.
        await local.handle([envelope("c-kept", 5, "CustomerReinstated", {})])
        snapshot = here.get("c-kept")
        assert snapshot is not None and (snapshot.status, snapshot.version) == ("approved", 5)
    finally:
        here.close()
        await elsewhere.close()
        await local.close()


async def test_o9_holds_that_race_on_the_last_units_conflict_and_the_loser_is_refused(
    settings: Settings, nc: NATS, request_: Requester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both holds decide on the same stock before either saves: the product's version makes one lose."""
    clock = FixedClock(START)
    orders = Orders(request_)
    async with customers_running(settings, clock), orders_running(settings, clock):
        dealer = await orders.customer()
        product = await orders.product(quantity=3)
    barrier = threading.Barrier(2, timeout=10)
    calls: list[str] = []
    original = OrdersApplication._hold_book

    def hold_book_after_both_decided(self: OrdersApplication, meta: Any) -> Any:
        calls.append(threading.current_thread().name)
        if calls.count(threading.current_thread().name) == 1:
            barrier.wait()  # both have allocated the same 3 units on their own copy of the product
        return original(self, meta)

    monkeypatch.setattr(OrdersApplication, "_hold_book", hold_book_after_both_decided)
    apps = [OrdersApplication(settings, clock, PostgresCustomerDirectory(settings)) for _ in range(2)]
    hold = ReserveGoods(
        actor=Actor(id="sp-1", role=Role.SALESPERSON),
        customer_id=dealer,
        product_code=product,
        quantity=3,
        deposit=Decimal("30"),
    )

    def attempt(app: OrdersApplication) -> str:
        try:
            app.reserve_goods(hold)
        except DomainError as error:
            return f"refused {error.rule}, available {error.details['available']}"
        return "reserved"

    try:
        outcomes = await asyncio.gather(*(asyncio.to_thread(attempt, app) for app in apps))
        # both passed the barrier having seen 3 available: the loser was refused on deciding again
        assert len(calls) == 2
        assert sorted(outcomes) == ["refused O9, available 0", "reserved"]
        stock = apps[0].get_product(GetProduct(product_code=product))
        assert (stock["on_hand"], stock["available"]) == (3, 0)
    finally:
        for app in apps:
            app.close()


async def test_o7_orders_taken_by_two_instances_count_against_one_capital_limit(
    settings: Settings, nc: NATS, request_: Requester
) -> None:
    """An instance that saved the branch's account before sees the other instance's order since then
    (aggregates are cached in memory): the third order goes over the capital limit and is held (O7)."""
    clock = FixedClock(START)
    orders = Orders(request_)
    async with customers_running(settings, clock), orders_running(settings, clock):
        branch = await orders.customer("branch", contract=False, capital_limit="250")
        product = await orders.product(quantity=10)
    order = PlaceOrder.model_validate(
        {
            "actor": {"id": "bm-1", "role": "branch_manager"},
            "customer_id": branch,
            "channel": "branch",
            "lines": [{"product_code": product, "quantity": 1}],
        }
    )
    first, second = (
        OrdersApplication(settings, clock, PostgresCustomerDirectory(settings)) for _ in range(2)
    )
    try:
        assert first.place_order(order)["status"] == "accepted"  # 100 of 250
        assert second.place_order(order)["status"] == "accepted"  # 200 of 250
        third = first.place_order(order)
        assert (third["status"], [h["rule"] for h in third["holds"]]) == ("on_hold", ["O7"])
        account = second.get_account(GetAccount(customer_id=branch))
        assert len(account["orders"]) == 3, account
        assert first.recorder.max_notification_id() == second.recorder.max_notification_id()
    finally:
        first.close()
        second.close()
