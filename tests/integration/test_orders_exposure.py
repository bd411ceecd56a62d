"""O6/O7 rev 2 (one exposure measure) and error replies, on real PostgreSQL and NATS."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from nats.aio.client import Client as NATS

from shared.settings import Settings
from tests.builders import BRANCH_MANAGER, FINANCE, SALES
from tests.integration.orders_kit import Orders
from tests.integration.test_orders import wait_event

pytestmark = pytest.mark.integration


async def account(orders: Orders, customer_id: str) -> dict[str, Any]:
    return await orders.query("get_account", {"customer_id": customer_id})


async def test_o6_several_orders_that_each_fit_together_exceed_the_limit_the_one_crossing_it_is_held(
    orders: Orders, nc: NATS, settings: Settings
) -> None:
    dealer = await orders.customer(credit_limit="1000")
    product = await orders.product(quantity=100)
    placed = [await orders.order(dealer, product, quantity=q) for q in (4, 4, 3)]
    assert [o["status"] for o in placed] == ["accepted", "accepted", "on_hold"]
    assert placed[2]["holds"][0]["rule"] == "O6"
    assert (await account(orders, dealer))["exposure"] == "800.00"  # the held one counts once approved
    # what reporting needs to compute the same measure travels with the events
    event = await wait_event(nc, settings, "OrderPlaced", placed[2]["id"])
    assert (event["data"]["total_amount"], event["data"]["deposit_applied"]) == ("300.00", "0.00")


async def test_o6_exposure_counts_unshipped_orders_net_of_payments(orders: Orders) -> None:
    dealer = await orders.customer(credit_limit="1000")
    product = await orders.product(quantity=100)
    shipped = await orders.order(dealer, product, quantity=5)
    await orders.ship(shipped["id"], product, 5)
    await orders.order(dealer, product, quantity=3)  # not shipped: counts all the same
    await orders.ok("record_payment", {"actor": FINANCE, "order_id": shipped["id"], "amount": "100.25"})
    exposure = Decimal((await account(orders, dealer))["exposure"])
    assert exposure == Decimal("699.75")
    assert (await orders.order(dealer, product, quantity=4))["status"] == "on_hold"  # 699.75 + 400 > 1,000


async def test_o7_capital_occupied_is_the_exposure_of_the_branch(orders: Orders) -> None:
    branch = await orders.customer("branch", contract=False, capital_limit="1000")
    product = await orders.product(quantity=100)
    first = await orders.order(branch, product, quantity=4, actor=BRANCH_MANAGER)
    await orders.order(branch, product, quantity=5, actor=BRANCH_MANAGER)
    await orders.ship(first["id"], product, 4)
    await orders.ok("record_payment", {"actor": FINANCE, "order_id": first["id"], "amount": "400.00"})
    figures = await account(orders, branch)
    assert (figures["capital_occupied"], figures["exposure"]) == ("500.00", "500.00")
    crossing = await orders.order(branch, product, quantity=6, actor=BRANCH_MANAGER)  # 500 + 600 > 1,000
    assert (crossing["status"], crossing["holds"][0]["rule"]) == ("on_hold", "O7")


async def test_invalid_and_not_found_replies_carry_rule_null(orders: Orders) -> None:
    invalid = await orders.cmd("place_order", {"actor": SALES, "customer_id": "c-1"})
    assert (invalid["error"]["code"], invalid["error"]["rule"]) == ("invalid", None)
    missing = await orders.request_("orders", "query", "get_order", {"order_id": "no-such-order"})
    assert (missing["error"]["code"], missing["error"]["rule"]) == ("not_found", None)
