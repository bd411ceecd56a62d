"""O6/O7 rev 2: one exposure measure for the credit limit and the branch capital limit (in-memory store)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from services.orders import commands as c
from shared.contracts import Actor, Role
from tests.unit.orders_kit import (
    FINANCE,
    GM,
    SALES,
    Fixture,
    customer_events,
    envelope,
)

MANAGER = Actor(id="sm-1", role=Role.SALES_MANAGER)
TODAY = date(2026, 11, 20)  # the fixture's clock, in Shanghai


@pytest.fixture
def fx() -> Fixture:
    return Fixture()


def test_o6_an_order_not_yet_shipped_counts_against_the_credit_limit(fx: Fixture) -> None:
    dealer, product = fx.dealer(credit_limit="1000.00"), fx.product(quantity=20)
    assert fx.order(dealer, product, 6)["status"] == "accepted"  # 600.00, nothing shipped
    second = fx.order(dealer, product, 5)  # 600.00 + 500.00 > 1,000.00
    assert (second["status"], [h["rule"] for h in second["holds"]]) == ("on_hold", ["O6"])


def test_o6_several_orders_that_each_fit_together_exceed_the_limit_the_one_crossing_it_is_held(
    fx: Fixture,
) -> None:
    dealer, product = fx.dealer(credit_limit="1000.00"), fx.product(quantity=20)
    placed = [fx.order(dealer, product, quantity) for quantity in (4, 4, 3)]
    assert [o["status"] for o in placed] == ["accepted", "accepted", "on_hold"]  # 400 + 400 + 300 > 1,000


def test_o6_a_held_order_does_not_count_until_it_is_released(fx: Fixture) -> None:
    dealer, product = fx.dealer(credit_limit="1000.00"), fx.product(quantity=20)
    fx.order(dealer, product, 8)
    held = fx.order(dealer, product, 3)  # 800 + 300 > 1,000
    assert (held["status"], fx.account(dealer)["exposure"]) == ("on_hold", "800.00")
    fx.app.release_order(c.ReleaseOrder(actor=MANAGER, order_id=held["id"], rule="O6"))
    assert fx.account(dealer)["exposure"] == "1100.00"  # approved: accepted, and counted


def holds(fx: Fixture, order_id: str) -> tuple[str, list[str]]:
    found = fx.app.get_order(c.GetOrder(order_id=order_id))
    return found["status"], [h["rule"] for h in found["holds"]]


def opening(fx: Fixture, customer: str, number: str, amount: str, due: date) -> dict[str, Any]:
    return fx.app.record_opening_receivable(
        c.RecordOpeningReceivable(
            actor=FINANCE,
            customer_id=customer,
            invoice_number=number,
            amount=Decimal(amount),
            invoice_date=due - timedelta(days=30),
            due_date=due,
        )
    )


def pay_opening(fx: Fixture, customer: str, receivable: dict[str, Any]) -> dict[str, Any]:
    return fx.app.record_opening_payment(
        c.RecordOpeningPayment(
            actor=FINANCE,
            customer_id=customer,
            receivable_id=receivable["id"],
            amount=Decimal(receivable["amount"]),
        )
    )


def test_o6_an_o5_released_order_that_would_pass_the_limit_is_held_by_o6(fx: Fixture) -> None:
    dealer, product = fx.dealer(credit_limit="1000.00"), fx.product(quantity=20)
    overdue = opening(fx, dealer, "INV-1", "300.00", TODAY - timedelta(days=1))
    held = fx.order(dealer, product, 6)  # 300 + 600 fits: held by O5 only
    assert holds(fx, held["id"]) == ("on_hold", ["O5"])
    opening(fx, dealer, "INV-2", "500.00", TODAY + timedelta(days=10))  # not due: no O5, but exposure
    paid = pay_opening(fx, dealer, overdue)
    assert paid["released"] == [held["id"]]  # O5 lifted ...
    assert holds(fx, held["id"]) == ("on_hold", ["O6"])  # ... but 500 + 600 > 1,000
    assert fx.account(dealer)["exposure"] == "500.00"


def test_o6_two_o5_held_orders_that_each_fit_but_not_together_the_second_is_held(fx: Fixture) -> None:
    dealer, product = fx.dealer(credit_limit="1000.00"), fx.product(quantity=20)
    overdue = opening(fx, dealer, "INV-1", "300.00", TODAY - timedelta(days=1))
    first, second = fx.order(dealer, product, 6), fx.order(dealer, product, 5)  # each fits beside 300
    pay_opening(fx, dealer, overdue)
    assert (holds(fx, first["id"]), holds(fx, second["id"])) == (("accepted", []), ("on_hold", ["O6"]))
    assert fx.account(dealer)["exposure"] == "600.00"


def test_o6_two_orders_waiting_for_a_contract_that_each_fit_but_not_together_the_second_is_held(
    fx: Fixture,
) -> None:
    events = customer_events("c-2")
    for e in events[:3]:  # registered, investigated (limit 1,000.00), approved: no contract yet (O4)
        fx.customers.apply(e)
    product = fx.product(quantity=20)
    first, second = fx.order("c-2", product, 6), fx.order("c-2", product, 5)
    assert (first["status"], second["status"]) == ("pending_contract", "pending_contract")
    fx.customers.apply(events[3])
    assert fx.app.release_for_contract("c-2")["released"] == [first["id"], second["id"]]
    assert (holds(fx, first["id"]), holds(fx, second["id"])) == (("accepted", []), ("on_hold", ["O6"]))


def test_o6_an_order_whose_excess_was_approved_stays_accepted_when_its_contract_arrives(fx: Fixture) -> None:
    events = customer_events("c-2")
    for e in events[:3]:
        fx.customers.apply(e)
    product = fx.product(quantity=20)
    held = fx.order("c-2", product, 11)  # 1,100 > 1,000 and no contract
    assert holds(fx, held["id"]) == ("pending_contract", ["O4", "O6"])
    fx.app.release_order(c.ReleaseOrder(actor=MANAGER, order_id=held["id"], rule="O6"))
    fx.customers.apply(events[3])
    fx.app.release_for_contract("c-2")
    assert holds(fx, held["id"]) == ("accepted", [])


def test_o6_exposure_is_net_of_payments_and_drops_cancelled_orders(fx: Fixture) -> None:
    dealer, product = fx.dealer(credit_limit="100000"), fx.product(quantity=20)
    shipped = fx.order(dealer, product, 5)
    fx.ship(shipped["id"], product, 5)
    open_order = fx.order(dealer, product, 3)
    assert fx.account(dealer)["exposure"] == "800.00"
    fx.app.record_payment(c.RecordPayment(actor=FINANCE, order_id=shipped["id"], amount=Decimal("120.50")))
    assert fx.account(dealer)["exposure"] == "679.50"
    fx.app.cancel_order(c.CancelOrder(actor=MANAGER, order_id=open_order["id"], reason="changed mind"))
    assert fx.account(dealer)["exposure"] == "379.50"
    fx.app.record_payment(c.RecordPayment(actor=FINANCE, order_id=shipped["id"], amount=Decimal("379.50")))
    assert fx.account(dealer)["exposure"] == "0.00"


def test_o6_a_converted_holds_deposit_is_paid_on_the_order_and_leaves_the_exposure(fx: Fixture) -> None:
    dealer, product = fx.dealer(credit_limit="100000"), fx.product(quantity=20)
    hold = fx.app.reserve_goods(
        c.ReserveGoods(
            actor=SALES, customer_id=dealer, product_code=product, quantity=10, deposit=Decimal("400")
        )
    )
    fx.app.convert_reservation(c.ConvertReservation(actor=SALES, reservation_id=hold["id"]))
    assert fx.account(dealer)["exposure"] == "600.00"  # 1,000.00 less the deposit applied


def test_o7_capital_occupied_is_the_o6_exposure_of_the_branch(fx: Fixture) -> None:
    branch, product = fx.dealer("b-1", kind="branch"), fx.product(quantity=40)
    fx.customers.apply(envelope("b-1", 5, "CapitalLimitSet", {"capital_limit": "1000.00"}))
    first, second = fx.order(branch, product, 4), fx.order(branch, product, 5)
    assert (first["status"], second["status"]) == ("accepted", "accepted")
    fx.ship(first["id"], product, 4)
    assert (fx.account(branch)["capital_occupied"], fx.account(branch)["exposure"]) == ("900.00", "900.00")
    crossing = fx.order(branch, product, 2)  # 900 shipped or not + 200 > 1,000
    assert (crossing["status"], [h["rule"] for h in crossing["holds"]]) == ("on_hold", ["O7"])
    fx.app.record_payment(c.RecordPayment(actor=FINANCE, order_id=first["id"], amount=Decimal("400")))
    assert fx.account(branch)["capital_occupied"] == "500.00"  # 500 open; the held 200 does not count


def test_o7_two_branch_orders_released_by_the_general_manager_that_together_pass_the_capital_limit(
    fx: Fixture,
) -> None:
    branch = fx.dealer("b-1", kind="branch")
    fx.customers.apply(envelope("b-1", 5, "CapitalLimitSet", {"capital_limit": "1000.00"}))
    fx.list_product("NEW-1", name="prototype valve", in_production=False)
    first, second = fx.order(branch, "NEW-1", 6), fx.order(branch, "NEW-1", 5)  # O8: not made yet
    assert (holds(fx, first["id"]), holds(fx, second["id"])) == (("on_hold", ["O8"]), ("on_hold", ["O8"]))
    for held in (first, second):
        fx.app.release_order(c.ReleaseOrder(actor=GM, order_id=held["id"], rule="O8"))
    assert (holds(fx, first["id"]), holds(fx, second["id"])) == (("accepted", []), ("on_hold", ["O7"]))
    assert fx.account(branch)["capital_occupied"] == "600.00"
