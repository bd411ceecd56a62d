"""O6/O7 rev 2: one exposure measure for the credit limit and the branch capital limit (in-memory store)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from services.orders import commands as c
from shared.contracts import Actor, Role
from tests.unit.test_orders_domain import FINANCE, PRODUCTION, SALES, Fixture, envelope

MANAGER = Actor(id="sm-1", role=Role.SALES_MANAGER)


@pytest.fixture
def fx() -> Fixture:
    return Fixture()


def order(fx: Fixture, customer: str, product: str, quantity: int) -> dict[str, Any]:
    line = c.OrderLine(product_code=product, quantity=quantity)
    return fx.app.place_order(c.PlaceOrder(actor=SALES, customer_id=customer, channel="fax", lines=[line]))


def account(fx: Fixture, customer: str) -> dict[str, Any]:
    return fx.app.get_account(c.GetAccount(customer_id=customer))


def test_o6_an_order_not_yet_shipped_counts_against_the_credit_limit(fx: Fixture) -> None:
    dealer, product = fx.dealer(credit_limit="1000.00"), fx.product(quantity=20)
    assert order(fx, dealer, product, 6)["status"] == "accepted"  # 600.00, nothing shipped
    second = order(fx, dealer, product, 5)  # 600.00 + 500.00 > 1,000.00
    assert (second["status"], [h["rule"] for h in second["holds"]]) == ("on_hold", ["O6"])


def test_o6_several_orders_that_each_fit_together_exceed_the_limit_the_one_crossing_it_is_held(
    fx: Fixture,
) -> None:
    dealer, product = fx.dealer(credit_limit="1000.00"), fx.product(quantity=20)
    statuses = [order(fx, dealer, product, quantity)["status"] for quantity in (4, 4, 3)]
    assert statuses == ["accepted", "accepted", "on_hold"]  # 400 + 400 fit, + 300 crosses 1,000
    crossing = fx.app.get_account(c.GetAccount(customer_id=dealer))
    assert crossing["exposure"] == "1100.00"  # the held order is committed to, waiting for approval


def test_o6_exposure_is_net_of_payments_and_drops_cancelled_orders(fx: Fixture) -> None:
    dealer, product = fx.dealer(credit_limit="100000"), fx.product(quantity=20)
    shipped = order(fx, dealer, product, 5)
    ship = c.ShipLine(product_code=product, quantity=5)
    fx.app.ship_order(c.ShipOrder(actor=PRODUCTION, order_id=shipped["id"], lines=[ship]))
    open_order = order(fx, dealer, product, 3)
    assert account(fx, dealer)["exposure"] == "800.00"
    fx.app.record_payment(c.RecordPayment(actor=FINANCE, order_id=shipped["id"], amount=Decimal("120.50")))
    assert account(fx, dealer)["exposure"] == "679.50"
    fx.app.cancel_order(c.CancelOrder(actor=MANAGER, order_id=open_order["id"], reason="changed mind"))
    assert account(fx, dealer)["exposure"] == "379.50"
    fx.app.record_payment(c.RecordPayment(actor=FINANCE, order_id=shipped["id"], amount=Decimal("379.50")))
    assert account(fx, dealer)["exposure"] == "0.00"


def test_o6_a_converted_holds_deposit_is_paid_on_the_order_and_leaves_the_exposure(fx: Fixture) -> None:
    dealer, product = fx.dealer(credit_limit="100000"), fx.product(quantity=20)
    hold = fx.app.reserve_goods(
        c.ReserveGoods(
            actor=SALES, customer_id=dealer, product_code=product, quantity=10, deposit=Decimal("400")
        )
    )
    fx.app.convert_reservation(c.ConvertReservation(actor=SALES, reservation_id=hold["id"]))
    assert account(fx, dealer)["exposure"] == "600.00"  # 1,000.00 less the deposit applied


def test_o7_capital_occupied_is_the_o6_exposure_of_the_branch(fx: Fixture) -> None:
    branch, product = fx.dealer("b-1", kind="branch"), fx.product(quantity=40)
    fx.customers.apply(envelope("b-1", 5, "CapitalLimitSet", {"capital_limit": "1000.00"}))
    first, second = order(fx, branch, product, 4), order(fx, branch, product, 5)
    assert (first["status"], second["status"]) == ("accepted", "accepted")
    ship = c.ShipLine(product_code=product, quantity=4)
    fx.app.ship_order(c.ShipOrder(actor=PRODUCTION, order_id=first["id"], lines=[ship]))
    assert (account(fx, branch)["capital_occupied"], account(fx, branch)["exposure"]) == ("900.00", "900.00")
    crossing = order(fx, branch, product, 2)  # 900 shipped or not + 200 > 1,000
    assert (crossing["status"], [h["rule"] for h in crossing["holds"]]) == ("on_hold", ["O7"])
    fx.app.record_payment(c.RecordPayment(actor=FINANCE, order_id=first["id"], amount=Decimal("400")))
    assert account(fx, branch)["capital_occupied"] == "700.00"  # 500 open + the held 200
