"""Orders service against real PostgreSQL and NATS, with the real customers service in-process.

Every rule test is named after its DOMAIN.md id. Orders learns customers only from the bus.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from nats.aio.client import Client as NATS

from shared.clock import FixedClock
from shared.database import drop_database
from shared.settings import Settings
from shared.subjects import events_wildcard, stream_name
from tests.builders import BRANCH_MANAGER, FINANCE, GM, MARKETING, PRODUCTION, SALES, SALES_MANAGER
from tests.conftest import Requester, made_stream, unique_settings, wait_for
from tests.integration.orders_kit import START, Orders, price_exception

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def settings() -> Iterator[Settings]:
    value = unique_settings(large_order_quantity=50, hold_expiry_check_seconds=0.2)
    yield value
    drop_database(value)


async def stream_events(nc: NATS, settings: Settings, event_type: str) -> list[dict[str, Any]]:
    """Every envelope of a type the orders stream holds now."""
    js = nc.jetstream()
    subject = events_wildcard(settings.namespace, "orders").replace(">", event_type)
    sub = await js.subscribe(subject, stream=stream_name(settings.namespace, "orders"), ordered_consumer=True)
    found: list[dict[str, Any]] = []
    try:
        while True:
            msg = await sub.next_msg(timeout=0.5)
            found.append(json.loads(msg.data))
    except TimeoutError:
        pass
    finally:
        await sub.unsubscribe()
    return found


async def wait_event(nc: NATS, settings: Settings, event_type: str, aggregate_id: str) -> dict[str, Any]:
    for _ in range(50):
        for envelope in await stream_events(nc, settings, event_type):
            if envelope["aggregate_id"] == aggregate_id:
                return envelope
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {event_type} for {aggregate_id} on the bus")


# Skeleton flow -----------------------------------------------------------------------------------
async def test_o1_o9_skeleton_order_at_list_price_and_hold_with_deposit(
    orders: Orders, nc: NATS, settings: Settings
) -> None:
    dealer = await orders.customer("dealer")
    product = await orders.product(quantity=100)
    order = await orders.order(dealer, product, quantity=10)
    assert order["status"] == "accepted"
    assert order["order_number"].startswith("SO20261120-")
    assert order["total_amount"] == "1000.00"
    placed = await wait_event(nc, settings, "OrderPlaced", order["id"])
    assert placed["data"]["customer_id"] == dealer
    assert placed["data"]["customer_kind"] == "dealer"
    assert placed["data"]["lines"][0] == {
        "product_code": product,
        "spec": "DN50",
        "quantity": 10,
        "unit_price": "100.00",
        "amount": "1000.00",
        "discount_pct": None,
    }

    hold = await orders.reserve(dealer, product, 20, "200.00")
    reserved = await wait_event(nc, settings, "OrderReserved", hold["id"])
    assert reserved["data"]["amount"] == "2000.00"
    assert reserved["data"]["deposit_required"] == "200.00"
    deposit = await wait_event(nc, settings, "DepositReceived", hold["id"])
    assert deposit["data"] == {"customer_id": dealer, "amount": "200.00"}
    assert (await orders.query("get_product", {"product_code": product}))["available"] == 80


async def test_o8_two_concurrent_holds_on_the_last_units_never_both_succeed(orders: Orders) -> None:
    dealer = await orders.customer("dealer")
    product = await orders.product(quantity=5)
    hold = {"actor": SALES, "customer_id": dealer, "product_code": product, "quantity": 5, "deposit": "50.00"}
    replies = await asyncio.gather(orders.cmd("reserve_goods", hold), orders.cmd("reserve_goods", hold))
    assert sorted(r["ok"] for r in replies) == [False, True]
    refused = next(r for r in replies if not r["ok"])
    assert refused["error"]["rule"] == "O9"
    stock = await orders.query("get_product", {"product_code": product})
    assert (stock["on_hand"], stock["available"]) == (5, 0)


# O1 ---------------------------------------------------------------------------------------------
async def test_o1_branch_order_by_branch_manager_is_registered(orders: Orders) -> None:
    branch = await orders.customer("branch", contract=False, capital_limit="500000")
    product = await orders.product(quantity=10)
    order = await orders.ok("place_order", orders.order_body(branch, product, 3, BRANCH_MANAGER, "branch"))
    assert (order["status"], order["customer_kind"], order["channel"]) == ("accepted", "branch", "branch")
    account = await orders.query("get_account", {"customer_id": branch})
    assert account["orders"][order["id"]]["status"] == "accepted"


async def test_o1_same_idempotency_key_registers_one_order(orders: Orders) -> None:
    dealer = await orders.customer()
    product = await orders.product(quantity=10)
    body = {
        "actor": SALES,
        "customer_id": dealer,
        "channel": "fax",
        "idempotency_key": f"fax-{dealer}",
        "lines": [{"product_code": product, "quantity": 2}],
    }
    first, again = await orders.ok("place_order", body), await orders.ok("place_order", body)
    assert again == first
    account = await orders.query("get_account", {"customer_id": dealer})
    assert list(account["orders"]) == [first["id"]]


async def test_o1_refuses_unknown_customer_and_roles_that_take_no_orders(orders: Orders) -> None:
    product = await orders.product(quantity=10)
    line = [{"product_code": product, "quantity": 1}]
    await orders.refused(
        "place_order", {"actor": SALES, "customer_id": "nobody", "channel": "fax", "lines": line}, "O1"
    )
    dealer = await orders.customer("dealer")
    await orders.refused(
        "place_order", {"actor": FINANCE, "customer_id": dealer, "channel": "fax", "lines": line}, "O1"
    )
    await orders.refused(
        "place_order",
        {"actor": BRANCH_MANAGER, "customer_id": dealer, "channel": "branch", "lines": line},
        "O1",
    )


# O2 / O3 ----------------------------------------------------------------------------------------
async def test_o2_line_off_list_price_is_refused_without_exception(orders: Orders) -> None:
    dealer = await orders.customer()
    product = await orders.product(quantity=10)
    error = await orders.refused(
        "place_order",
        orders.order_body(dealer, product, unit_price="95.00"),
        "O2",
    )
    assert error["details"]["list_price"] == "100.00"


async def test_o2_reduction_approved_by_general_manager_covers_the_line(orders: Orders) -> None:
    dealer = await orders.customer()
    product = await orders.product(quantity=10)
    exception = await orders.price_exception(dealer, product, "95.00", "volume")
    assert exception["major"] is False
    line = {"unit_price": "95.00", "price_exception_id": exception["id"]}
    await orders.refused(  # requested is not approved
        "place_order",
        orders.order_body(dealer, product, 2, SALES, **line),
        "O2",
    )
    await orders.refused(
        "approve_price_exception", {"actor": SALES_MANAGER, "exception_id": exception["id"]}, "O2"
    )
    granted = await orders.ok("approve_price_exception", {"actor": GM, "exception_id": exception["id"]})
    assert granted["granted"] is True
    order = await orders.order(dealer, product, quantity=2, **line)
    assert order["total_amount"] == "190.00"


async def test_o2_major_reduction_needs_majority_of_department_heads(orders: Orders) -> None:
    dealer = await orders.customer()
    product = await orders.product(quantity=10)
    exception = await orders.price_exception(dealer, product, "85.00", "tender")
    assert exception["major"] is True
    assert (await orders.ok("approve_price_exception", {"actor": GM, "exception_id": exception["id"]}))[
        "granted"
    ] is False
    vote = {"exception_id": exception["id"]}
    await orders.refused("vote_price_exception", {**vote, "actor": SALES, "in_favour": True}, "O2")
    await orders.ok("vote_price_exception", {**vote, "actor": SALES_MANAGER, "in_favour": True})
    await orders.refused("vote_price_exception", {**vote, "actor": SALES_MANAGER, "in_favour": True}, "O2")
    second = await orders.ok("vote_price_exception", {**vote, "actor": FINANCE, "in_favour": True})
    assert second["granted"] is False  # 2 of 4 is no majority
    third = await orders.ok("vote_price_exception", {**vote, "actor": PRODUCTION, "in_favour": True})
    assert third["granted"] is True
    order = await orders.order(
        dealer, product, quantity=1, unit_price="85.00", price_exception_id=exception["id"]
    )
    assert order["total_amount"] == "85.00"


async def test_o2_only_general_manager_or_marketing_director_set_list_prices(orders: Orders) -> None:
    body = {"product_code": "P-NOPE", "name": "x", "spec": "y", "list_price": "1.00", "standard_cost": "0.50"}
    await orders.refused("list_product", {**body, "actor": SALES}, "O2")
    listed = await orders.ok("list_product", {**body, "actor": MARKETING})
    assert listed["list_price"] == "1.00"


async def test_o3_only_sales_roles_enter_prices(orders: Orders) -> None:
    branch = await orders.customer("branch", contract=False, capital_limit="500000")
    product = await orders.product(quantity=10)
    await orders.refused(
        "place_order",
        {
            "actor": BRANCH_MANAGER,
            "customer_id": branch,
            "channel": "branch",
            "lines": [{"product_code": product, "quantity": 1, "unit_price": "100.00"}],
        },
        "O3",
    )
    await orders.refused(
        "request_price_exception",
        price_exception(MARKETING, branch, product, "90.00", "x"),
        "O3",
    )
    order = await orders.order(branch, product, quantity=1, unit_price="100.00")  # a salesperson may
    assert order["status"] == "accepted"


# O4–O7 ------------------------------------------------------------------------------------------
async def test_o4_distributor_without_contract_waits_until_one_is_signed(orders: Orders) -> None:
    dealer = await orders.customer("dealer", contract=False)
    product = await orders.product(quantity=10)
    order = await orders.order(dealer, product)
    assert order["status"] == "pending_contract"
    assert order["holds"][0]["rule"] == "O4"
    await orders.refused("release_order", {"actor": GM, "order_id": order["id"], "rule": "O4"}, "O4")
    await orders.sign_contract(dealer)

    async def released() -> bool:
        return (await orders.query("get_order", {"order_id": order["id"]}))["status"] == "accepted"

    await wait_for(released)


async def test_o4_expired_contract_puts_order_pending(orders: Orders) -> None:
    dealer = await orders.customer("dealer", contract=False)
    result = await orders.sign_contract(dealer, "2025-01-01", "2025-12-31")
    await orders.known(dealer, result["version"])
    order = await orders.order(dealer, await orders.product(quantity=1))
    assert order["status"] == "pending_contract"


async def test_o4_agent_with_valid_contract_and_direct_customer_are_accepted(orders: Orders) -> None:
    product = await orders.product(quantity=10)
    agent = await orders.customer("agent")
    direct = await orders.customer("direct", contract=False)
    assert (await orders.order(agent, product))["status"] == "accepted"
    assert (await orders.order(direct, product))["status"] == "accepted"


async def test_o5_overdue_receivable_holds_new_orders_until_paid(orders: Orders, clock: FixedClock) -> None:
    dealer = await orders.customer()
    product = await orders.product(quantity=100)
    first = await orders.shipped_order(dealer, product, 10)
    clock.advance(timedelta(days=30))
    assert (await orders.order(dealer, product))["status"] == "accepted"  # due today: not overdue yet
    clock.advance(timedelta(days=1))
    held = await orders.order(dealer, product)
    assert held["status"] == "on_hold"
    assert [h["rule"] for h in held["holds"]] == ["O5"]
    await orders.refused("release_order", {"actor": GM, "order_id": held["id"], "rule": "O5"}, "O5")
    paid = await orders.ok("record_payment", {"actor": FINANCE, "order_id": first["id"], "amount": "1000.00"})
    assert paid["status"] == "paid"
    assert paid["released"] == [held["id"]]
    assert (await orders.query("get_order", {"order_id": held["id"]}))["status"] == "accepted"


async def test_o6_over_credit_limit_on_hold_until_sales_manager_approves(
    orders: Orders, nc: NATS, settings: Settings
) -> None:
    dealer = await orders.customer(credit_limit="1500")
    product = await orders.product(quantity=100)
    first = await orders.order(dealer, product, quantity=10)
    assert first["status"] == "accepted"
    await orders.ship(first["id"], product, 10)
    second = await orders.order(dealer, product, quantity=6)  # 1000 outstanding + 600 > 1500
    assert (second["status"], second["holds"][0]["rule"]) == ("on_hold", "O6")
    await orders.refused("release_order", {"actor": SALES, "order_id": second["id"], "rule": "O6"}, "O6")
    released = await orders.ok(
        "release_order", {"actor": SALES_MANAGER, "order_id": second["id"], "rule": "O6"}
    )
    assert released["status"] == "accepted"
    event = await wait_event(nc, settings, "OrderReleased", second["id"])
    assert event["data"]["rule"] == "O6" and event["data"]["by"] == SALES_MANAGER["id"]


async def test_o7_branch_over_capital_limit_needs_marketing_director(
    orders: Orders, nc: NATS, settings: Settings
) -> None:
    branch = await orders.customer("branch", contract=False, capital_limit="1000")
    product = await orders.product(quantity=100)
    within = await orders.order(branch, product, quantity=10, actor=BRANCH_MANAGER)
    assert within["status"] == "accepted"
    over = await orders.order(branch, product, quantity=1, actor=BRANCH_MANAGER)
    assert (over["status"], over["holds"][0]["rule"]) == ("on_hold", "O7")
    await orders.refused(
        "release_order", {"actor": SALES_MANAGER, "order_id": over["id"], "rule": "O7"}, "O7"
    )
    released = await orders.ok("release_order", {"actor": MARKETING, "order_id": over["id"], "rule": "O7"})
    assert released["status"] == "accepted"
    approved = await wait_event(nc, settings, "OverLimitApproved", over["id"])
    assert approved["data"]["capital_limit"] == "1000.00"
    assert approved["data"]["amount"] == "100.00"


# O8 ---------------------------------------------------------------------------------------------
async def test_o8_short_large_order_raises_production_request(
    orders: Orders, nc: NATS, settings: Settings
) -> None:
    dealer = await orders.customer()
    product = await orders.product(quantity=10)
    small = await orders.order(dealer, product, quantity=20)  # short but small: no request
    large = await orders.order(dealer, product, quantity=60)
    assert small["status"] == large["status"] == "accepted"
    requests = [
        e
        for e in await stream_events(nc, settings, "ProductionRequested")
        if e["data"]["product_code"] == product
    ]
    for _ in range(30):
        if requests:
            break
        await asyncio.sleep(0.1)
        requests = [
            e
            for e in await stream_events(nc, settings, "ProductionRequested")
            if e["data"]["product_code"] == product
        ]
    assert [(e["data"]["order_id"], e["data"]["quantity"]) for e in requests] == [(large["id"], 50)]


async def test_o8_product_not_yet_made_needs_general_manager_review(orders: Orders) -> None:
    dealer = await orders.customer()
    product = await orders.product(in_production=False)
    order = await orders.order(dealer, product, quantity=5)
    assert (order["status"], order["holds"][0]["rule"]) == ("on_hold", "O8")
    await orders.refused("release_order", {"actor": MARKETING, "order_id": order["id"], "rule": "O8"}, "O8")
    assert (await orders.ok("release_order", {"actor": GM, "order_id": order["id"], "rule": "O8"}))[
        "status"
    ] == "accepted"


async def test_o8_shipment_takes_from_stock_and_is_refused_when_short(orders: Orders) -> None:
    dealer = await orders.customer()
    product = await orders.product(quantity=5)
    order = await orders.order(dealer, product, quantity=8)
    ship = {"actor": PRODUCTION, "order_id": order["id"]}
    await orders.refused("ship_order", {**ship, "lines": [{"product_code": product, "quantity": 8}]}, "O8")
    await orders.ok("ship_order", {**ship, "lines": [{"product_code": product, "quantity": 5}]})
    stock = await orders.query("get_product", {"product_code": product})
    assert (stock["on_hand"], stock["available"]) == (0, 0)
    await orders.refused("receive_stock", {"actor": SALES, "product_code": product, "quantity": 3}, "O8")


# O9 ---------------------------------------------------------------------------------------------
async def test_o9_hold_refused_without_deposit_or_below_minimum(orders: Orders) -> None:
    dealer = await orders.customer()
    product = await orders.product(quantity=10)
    hold = {"actor": SALES, "customer_id": dealer, "product_code": product, "quantity": 10}
    await orders.refused("reserve_goods", {**hold, "deposit": "0"}, "O9")
    error = await orders.refused("reserve_goods", {**hold, "deposit": "99.99"}, "O9")
    assert error["details"]["deposit_required"] == "100.00"
    assert (await orders.query("get_product", {"product_code": product}))["available"] == 10


async def test_o9_hold_expires_at_72_hours_by_itself(
    orders: Orders, clock: FixedClock, nc: NATS, settings: Settings
) -> None:
    dealer = await orders.customer()
    product = await orders.product(quantity=10)
    hold = await orders.reserve(dealer, product, 10, "150.00")
    assert hold["expires_at"] == (START + timedelta(hours=72)).isoformat()
    clock.advance(timedelta(hours=71, minutes=59))
    await asyncio.sleep(0.5)
    assert (await orders.query("get_reservation", {"reservation_id": hold["id"]}))["status"] == "reserved"
    clock.advance(timedelta(minutes=1))
    expired = await wait_event(nc, settings, "ReservationExpired", hold["id"])
    assert expired["data"] == {"customer_id": dealer, "deposit_credited": "150.00"}
    assert (await orders.query("get_product", {"product_code": product}))["available"] == 10
    assert (await orders.query("get_account", {"customer_id": dealer}))["credit"] == "150.00"
    # The credit pays toward the customer's next order (O9 decision), announced on the bus.
    order = await orders.order(dealer, product, quantity=2)
    assert (order["total_amount"], order["paid"]) == ("200.00", "150.00")
    applied = await wait_event(nc, settings, "CreditApplied", order["id"])
    assert applied["data"] == {"customer_id": dealer, "amount": "150.00"}
    assert (await orders.query("get_account", {"customer_id": dealer}))["credit"] == "0.00"


async def test_o9_hold_expires_at_month_end_in_shanghai(orders: Orders, clock: FixedClock) -> None:
    dealer = await orders.customer()
    product = await orders.product(quantity=10)
    clock.set(datetime(2026, 11, 29, 12, 0, tzinfo=UTC))  # 20:00 on the 29th in Shanghai
    hold = await orders.reserve(dealer, product, 1, "10.00")
    # 1 December 00:00 Shanghai = 30 November 16:00 UTC, before start + 72 h
    assert datetime.fromisoformat(hold["expires_at"]) == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    clock.set(datetime(2026, 11, 30, 16, 0, tzinfo=UTC))

    async def expired() -> bool:
        return (await orders.query("get_reservation", {"reservation_id": hold["id"]}))["status"] == "expired"

    await wait_for(expired)


async def test_o9_converted_hold_applies_its_deposit_to_the_order(
    orders: Orders, nc: NATS, settings: Settings
) -> None:
    dealer = await orders.customer()
    product = await orders.product(quantity=10)
    hold = await orders.reserve(dealer, product, 4, "100.00")
    order = await orders.ok("convert_reservation", {"actor": SALES, "reservation_id": hold["id"]})
    assert (order["total_amount"], order["paid"], order["status"]) == ("400.00", "100.00", "accepted")
    converted = await wait_event(nc, settings, "ReservationConverted", hold["id"])
    assert converted["data"] == {"customer_id": dealer, "order_id": order["id"], "deposit_applied": "100.00"}
    await orders.refused("convert_reservation", {"actor": SALES, "reservation_id": hold["id"]}, "O9")
    # the held units are the order's: shipping them needs no free stock
    await orders.ship(order["id"], product, 4)
    shipped = await orders.query("get_order", {"order_id": order["id"]})
    assert (shipped["status"], shipped["receivable"]) == ("shipped", "300.00")


async def test_o9_guarantee_chain_salesperson_sales_manager_general_manager_in_order(orders: Orders) -> None:
    dealer = await orders.customer()
    product = await orders.product(quantity=10)
    body = {"customer_id": dealer, "product_code": product, "quantity": 3}
    await orders.refused("file_guarantee", {**body, "actor": SALES_MANAGER}, "O9")
    hold = await orders.ok("file_guarantee", {**body, "actor": SALES})
    assert hold["status"] == "guarantee_filed"
    ref = {"reservation_id": hold["id"]}
    await orders.refused("approve_guarantee", {**ref, "actor": GM}, "O9")  # before the sales manager: refused
    await orders.refused("agree_guarantee", {**ref, "actor": GM}, "O9")
    assert (await orders.ok("agree_guarantee", {**ref, "actor": SALES_MANAGER}))[
        "status"
    ] == "guarantee_agreed"
    await orders.refused("approve_guarantee", {**ref, "actor": SALES_MANAGER}, "O9")
    approved = await orders.ok("approve_guarantee", {**ref, "actor": GM})
    assert (approved["status"], approved["deposit"]) == ("reserved", "0.00")
    assert (await orders.query("get_product", {"product_code": product}))["available"] == 7


async def test_c9_o9_suspended_customer_cannot_reserve(orders: Orders, request_: Requester) -> None:
    dealer = await orders.customer()
    product = await orders.product(quantity=10)
    reply = await request_(
        "customers",
        "cmd",
        "suspend_customer",
        {"actor": SALES_MANAGER, "customer_id": dealer, "reason": "channel"},
    )
    await orders.known(dealer, reply["result"]["version"])
    hold = {"actor": SALES, "customer_id": dealer, "product_code": product, "quantity": 1, "deposit": "10.00"}
    await orders.refused("reserve_goods", hold, "C9")


# O10 / O11 --------------------------------------------------------------------------------------
async def test_o10_order_events_reach_every_department_on_the_bus(
    orders: Orders, nc: NATS, settings: Settings
) -> None:
    """Marketing, finance and production each follow the orders stream with a durable consumer of its own."""
    js = nc.jetstream()
    subject = events_wildcard(settings.namespace, "orders").replace(">", "OrderPlaced")
    await made_stream(js, stream_name(settings.namespace, "orders"))  # the relay makes it after starting
    departments = {
        name: await js.pull_subscribe(
            subject, durable=f"{name}-copies", stream=stream_name(settings.namespace, "orders")
        )
        for name in ("marketing", "finance", "production")
    }
    dealer = await orders.customer()
    order = await orders.order(dealer, await orders.product(quantity=10), quantity=2)
    for name, subscription in departments.items():
        copy: dict[str, Any] | None = None
        for _ in range(20):
            try:
                fetched = await subscription.fetch(100, timeout=1)
            except TimeoutError:
                continue
            for msg in fetched:
                await msg.ack()
                envelope = json.loads(msg.data)
                if envelope["aggregate_id"] == order["id"]:
                    copy = envelope
            if copy is not None:
                break
        assert copy is not None, name
        assert copy["data"]["order_number"] == order["order_number"]
        assert copy["data"]["total_amount"] == "200.00" and copy["data"]["lines"][0]["quantity"] == 2
        assert copy["actor"] == SALES and copy["service"] == "orders"


async def test_o11_partial_shipments_receivables_and_payments(
    orders: Orders, nc: NATS, settings: Settings
) -> None:
    dealer = await orders.customer()
    product = await orders.product(quantity=10)
    order = await orders.order(dealer, product, quantity=10)
    ship = {"actor": PRODUCTION, "order_id": order["id"]}
    part = await orders.ok("ship_order", {**ship, "lines": [{"product_code": product, "quantity": 4}]})
    assert (part["status"], part["receivable"]) == ("accepted", "400.00")
    await orders.refused("ship_order", {**ship, "lines": [{"product_code": product, "quantity": 7}]}, "O11")
    await orders.refused(
        "ship_order", {**ship, "actor": SALES, "lines": [{"product_code": product, "quantity": 1}]}, "O11"
    )
    await orders.refused(
        "record_payment", {"actor": FINANCE, "order_id": order["id"], "amount": "400.01"}, "O11"
    )
    await orders.refused(
        "record_payment", {"actor": SALES, "order_id": order["id"], "amount": "10.00"}, "O11"
    )
    await orders.ok("record_payment", {"actor": FINANCE, "order_id": order["id"], "amount": "400.00"})
    rest = await orders.ok("ship_order", {**ship, "lines": [{"product_code": product, "quantity": 6}]})
    assert (rest["status"], rest["receivable"]) == ("shipped", "600.00")
    account = await orders.query("get_account", {"customer_id": dealer})
    assert (account["outstanding"], account["overdue"]) == ("600.00", "0.00")
    paid = await orders.ok("record_payment", {"actor": FINANCE, "order_id": order["id"], "amount": "600.00"})
    assert paid["status"] == "paid"
    shipped = await wait_event(nc, settings, "OrderShipped", order["id"])
    assert shipped["data"]["customer_id"] == dealer and shipped["data"]["amount"] == "400.00"


async def test_o11_unpaid_past_30_days_is_overdue(orders: Orders, clock: FixedClock) -> None:
    dealer = await orders.customer()
    product = await orders.product(quantity=10)
    await orders.shipped_order(dealer, product, 3)
    clock.advance(timedelta(days=30))
    assert (await orders.query("get_account", {"customer_id": dealer}))["overdue"] == "0.00"
    clock.advance(timedelta(days=1))
    assert (await orders.query("get_account", {"customer_id": dealer}))["overdue"] == "300.00"


# O12 / O13 --------------------------------------------------------------------------------------
async def test_o12_monthly_reorder_point_and_alert(
    orders: Orders, clock: FixedClock, nc: NATS, settings: Settings
) -> None:
    branch = await orders.customer("branch", contract=False, capital_limit="10000000")
    product = await orders.product(quantity=1000)
    clock.set(datetime(2026, 10, 10, 2, 0, tzinfo=UTC))  # October: 310 shipped, 10 a day
    order = await orders.order(branch, product, quantity=310, actor=BRANCH_MANAGER)
    await orders.ship(order["id"], product, 310)
    clock.set(datetime(2026, 11, 1, 2, 0, tzinfo=UTC))
    computed = await orders.ok(
        "compute_reorder_points",
        {"actor": MARKETING, "customer_id": branch, "month": "2026-11", "transit_days": 5},
    )
    assert computed["reorder_points"] == {product: 50}  # ceil(10/day × 5 days); no November 2025 known
    stock = {"actor": BRANCH_MANAGER, "customer_id": branch, "product_code": product}
    assert (await orders.ok("report_branch_stock", {**stock, "stock": 51}))["alert"] is False
    assert (await orders.ok("report_branch_stock", {**stock, "stock": 50}))["alert"] is True
    alert = await wait_event(nc, settings, "ReorderAlertRaised", await account_id(orders, branch))
    assert alert["data"] == {"customer_id": branch, "product_code": product, "stock": 50, "reorder_point": 50}
    dealer = await orders.customer()
    await orders.refused(
        "compute_reorder_points",
        {"actor": MARKETING, "customer_id": dealer, "month": "2026-11", "transit_days": 5},
        "O12",
    )


async def account_id(orders: Orders, customer_id: str) -> str:
    return (await orders.query("get_account", {"customer_id": customer_id}))["id"]


async def test_o13_weekly_request_list_by_friday_and_its_match(
    orders: Orders, clock: FixedClock, nc: NATS, settings: Settings
) -> None:
    branch = await orders.customer("branch", contract=False, capital_limit="10000000")
    a, b = await orders.product(quantity=100), await orders.product(quantity=100)
    listed = {
        "actor": BRANCH_MANAGER,
        "customer_id": branch,
        "week": "2026-W48",
        "lines": [{"product_code": a, "quantity": 10}, {"product_code": b, "quantity": 10}],
    }
    clock.set(datetime(2026, 11, 20, 10, 1, tzinfo=UTC))  # Friday 18:01 Shanghai: too late for W48
    await orders.refused("submit_request_list", listed, "O13")
    clock.set(datetime(2026, 11, 20, 9, 59, tzinfo=UTC))
    await orders.refused("submit_request_list", {**listed, "actor": SALES}, "O13")
    submitted = await orders.ok("submit_request_list", listed)
    await orders.refused("submit_request_list", listed, "O13")
    clock.set(datetime(2026, 11, 24, 2, 0, tzinfo=UTC))  # Tuesday of W48
    await orders.order(branch, a, quantity=10, actor=BRANCH_MANAGER)
    await orders.order(branch, b, quantity=5, actor=BRANCH_MANAGER)
    match = {"actor": MARKETING, "customer_id": branch, "week": "2026-W48"}
    await orders.refused("match_request_list", match, "O13")  # the week is not over
    clock.set(datetime(2026, 11, 30, 2, 0, tzinfo=UTC))
    matched = await orders.ok("match_request_list", match)
    assert matched["match_rate"] == "0.7500"  # (10 + 5) / (10 + 10)
    event = await wait_event(nc, settings, "RequestListMatched", submitted["id"])
    assert event["data"]["match_rate"] == "0.7500"


# O14 --------------------------------------------------------------------------------------------
async def test_o14_every_refusal_names_its_rule(orders: Orders) -> None:
    dealer = await orders.customer()
    product = await orders.product(quantity=1)
    order = {"actor": SALES, "customer_id": dealer, "channel": "fax"}
    refusals: list[tuple[str, dict[str, Any], str]] = [
        (
            "list_product",
            {
                "actor": SALES,
                "product_code": "X1",
                "name": "n",
                "spec": "s",
                "list_price": "1",
                "standard_cost": "1",
            },
            "O2",
        ),
        (
            "place_order",
            {**order, "lines": [{"product_code": product, "quantity": 1, "unit_price": "1.00"}]},
            "O2",
        ),
        ("place_order", {**order, "lines": [{"product_code": "NOPE", "quantity": 1}]}, "O2"),
        (
            "reserve_goods",
            {"actor": SALES, "customer_id": dealer, "product_code": product, "quantity": 2, "deposit": "100"},
            "O9",
        ),
        ("release_order", {"actor": GM, "order_id": "no-such-order", "rule": "O6"}, "O1"),
    ]
    for name, body, rule in refusals:
        error = await orders.refused(name, body, rule)
        assert error["message"], error
