"""Returns and exchanges (O15), shipment corrections, delivery acceptance and completion (O16), on the
in-memory store."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.application import Repository

from services.orders import commands as c
from services.orders.domain import Order
from services.orders.results import order_result
from shared.contracts import Actor, Role
from shared.errors import DomainError
from tests.unit.orders_kit import FINANCE, PRODUCTION, SALES, START, Fixture, shipped_order

MANAGER = Actor(id="sm-1", role=Role.SALES_MANAGER)


@pytest.fixture
def fx() -> Fixture:
    return Fixture()


def refused(rule: str, call: Any, *args: Any) -> DomainError:
    with pytest.raises(DomainError) as caught:
        call(*args)
    assert caught.value.rule == rule, caught.value
    return caught.value


def ask_return(
    fx: Fixture, order_id: str, product: str, quantity: int, reason: str = "damaged", **more: Any
) -> dict[str, Any]:
    return fx.app.request_return(
        c.RequestReturn(
            actor=SALES,
            order_id=order_id,
            lines=[c.ShipLine(product_code=product, quantity=quantity)],
            reason=reason,  # type: ignore[arg-type]
            **more,
        )
    )


def returned(fx: Fixture, order_id: str, product: str, quantity: int, **more: Any) -> dict[str, Any]:
    """A return asked, approved and booked back into stock."""
    return_id = ask_return(fx, order_id, product, quantity, **more)["return_id"]
    fx.app.approve_return(c.ReturnStep(actor=MANAGER, order_id=order_id, return_id=return_id))
    booked = fx.app.book_return(c.ReturnStep(actor=PRODUCTION, order_id=order_id, return_id=return_id))
    return booked | {"return_id": return_id}


def stock(fx: Fixture, product: str) -> int:
    return int(fx.app.get_product(c.GetProduct(product_code=product))["on_hand"])


def test_o15_return_books_goods_back_and_its_credit_note_lowers_receivable_and_exposure(fx: Fixture) -> None:
    dealer, product = fx.dealer(), fx.product(quantity=20)
    order_id = shipped_order(fx, dealer, product, 8)  # 800.00 owed
    assert (stock(fx, product), fx.account(dealer)["exposure"]) == (12, "800.00")
    order = returned(fx, order_id, product, 3)
    assert stock(fx, product) == 15
    assert (order["receivable"], order["returned_amount"]) == ("500.00", "300.00")
    assert order["returns"][order["return_id"]]["status"] == "credited"
    assert (fx.account(dealer)["exposure"], fx.account(dealer)["credit"]) == ("500.00", "0.00")


def test_o15_a_return_larger_than_what_was_shipped_is_refused(fx: Fixture) -> None:
    dealer, product = fx.dealer(), fx.product(quantity=20)
    order_id = shipped_order(fx, dealer, product, 5)
    refused("O15", ask_return, fx, order_id, product, 6)
    ask_return(fx, order_id, product, 4)
    error = refused("O15", ask_return, fx, order_id, product, 2)  # 1 left: shipped and not asked back
    assert error.details["returnable"] == 1


def test_o15_a_rejected_return_gives_its_units_back_to_return(fx: Fixture) -> None:
    dealer, product = fx.dealer(), fx.product(quantity=20)
    order_id = shipped_order(fx, dealer, product, 5)
    return_id = ask_return(fx, order_id, product, 5)["return_id"]
    reject = c.RejectReturn(actor=MANAGER, order_id=order_id, return_id=return_id, reason="used goods")
    fx.app.reject_return(reject)
    assert ask_return(fx, order_id, product, 5)["returns"][return_id]["status"] == "rejected"


def test_o15_a_return_after_payment_becomes_customer_credit(fx: Fixture) -> None:
    dealer, product = fx.dealer(), fx.product(quantity=20)
    order_id = shipped_order(fx, dealer, product, 8)
    fx.app.record_payment(c.RecordPayment(actor=FINANCE, order_id=order_id, amount=Decimal("700")))
    order = returned(fx, order_id, product, 3)  # 300.00: 100.00 still owed, 200.00 paid already
    assert (order["receivable"], order["status"]) == ("0.00", "paid")
    assert (fx.account(dealer)["credit"], fx.account(dealer)["exposure"]) == ("200.00", "0.00")


def test_o15_a_quality_return_names_its_complaint(fx: Fixture) -> None:
    dealer, product = fx.dealer(), fx.product(quantity=20)
    order_id = shipped_order(fx, dealer, product, 5)
    refused("O15", ask_return, fx, order_id, product, 1, "quality")
    asked = ask_return(fx, order_id, product, 1, "quality", complaint_id="cmp-1")
    assert asked["returns"][asked["return_id"]]["complaint_id"] == "cmp-1"


def test_o15_only_sales_ask_only_the_sales_manager_approves_only_production_books(fx: Fixture) -> None:
    dealer, product = fx.dealer(), fx.product(quantity=20)
    order_id = shipped_order(fx, dealer, product, 5)
    body: dict[str, Any] = {
        "order_id": order_id,
        "lines": [c.ShipLine(product_code=product, quantity=1)],
        "reason": "excess",
    }
    refused("O15", fx.app.request_return, c.RequestReturn(actor=PRODUCTION, **body))
    return_id = ask_return(fx, order_id, product, 1)["return_id"]
    for actor in (SALES, PRODUCTION, FINANCE):
        step = c.ReturnStep(actor=actor, order_id=order_id, return_id=return_id)
        refused("O15", fx.app.approve_return, step)
    refused("O15", fx.app.book_return, c.ReturnStep(actor=PRODUCTION, order_id=order_id, return_id=return_id))
    fx.app.approve_return(c.ReturnStep(actor=MANAGER, order_id=order_id, return_id=return_id))
    refused("O15", fx.app.book_return, c.ReturnStep(actor=MANAGER, order_id=order_id, return_id=return_id))


def test_o15_exchange_is_a_return_plus_a_replacement_without_credit_note(fx: Fixture) -> None:
    dealer, product = fx.dealer(), fx.product(quantity=20)
    order_id = shipped_order(fx, dealer, product, 5)
    order = returned(fx, order_id, product, 2, exchange=True)
    assert (order["receivable"], order["returned_amount"], stock(fx, product)) == ("500.00", "0.00", 17)
    step = c.ReturnStep(actor=PRODUCTION, order_id=order_id, return_id=order["return_id"])
    replaced = fx.app.ship_replacement(step)
    assert replaced["returns"][order["return_id"]]["status"] == "replaced"
    assert (replaced["receivable"], stock(fx, product)) == ("500.00", 15)
    refused("O15", fx.app.ship_replacement, step)  # once
    ask_return(fx, order_id, product, 5)  # the replacement units are the customer's again


def test_o15_returns_load_the_same_from_the_stored_events(fx: Fixture) -> None:
    dealer, product = fx.dealer(), fx.product(quantity=20)
    order_id = shipped_order(fx, dealer, product, 8)
    fx.app.record_payment(c.RecordPayment(actor=FINANCE, order_id=order_id, amount=Decimal("800")))
    returned(fx, order_id, product, 3)
    # no cache: every stored event through the transcoder, as from PostgreSQL
    loaded: object = Repository(fx.app.events).get(UUID(order_id))
    assert isinstance(loaded, Order)
    assert order_result(loaded) == fx.app.get_order(c.GetOrder(order_id=order_id))


# O16 ----------------------------------------------------------------------------------------------
def shipment_of(order: dict[str, Any]) -> str:
    (shipment_id,) = order["shipments"]
    return str(shipment_id)


def report(fx: Fixture, order_id: str, shipment_id: str, product: str, quantity: int) -> str:
    reported = fx.app.report_shipment_problem(
        c.ReportShipmentProblem(
            actor=SALES,
            order_id=order_id,
            shipment_id=shipment_id,
            problem="short",
            lines=[c.ShipLine(product_code=product, quantity=quantity)],
        )
    )
    return str(reported["correction_id"])


def test_o16_a_short_shipment_after_seven_days_or_beyond_what_it_carried_is_refused(fx: Fixture) -> None:
    dealer, product = fx.dealer(), fx.product(quantity=20)
    order_id = shipped_order(fx, dealer, product, 5)
    shipment_id = shipment_of(fx.app.get_order(c.GetOrder(order_id=order_id)))
    fx.clock.set(START + timedelta(days=8))
    refused("O16", report, fx, order_id, shipment_id, product, 1)
    fx.clock.set(START + timedelta(days=7))
    assert report(fx, order_id, shipment_id, product, 3)
    assert refused("O16", report, fx, order_id, shipment_id, product, 3).details["reportable"] == 2


def test_o16_short_shipment_corrected_by_a_credit_note_completes_the_order(fx: Fixture) -> None:
    dealer, product = fx.dealer(), fx.product(quantity=20)
    order_id = shipped_order(fx, dealer, product, 5)
    shipment_id = shipment_of(fx.app.get_order(c.GetOrder(order_id=order_id)))
    correction_id = report(fx, order_id, shipment_id, product, 2)
    fix = c.CorrectShipment(actor=SALES, order_id=order_id, correction_id=correction_id)
    refused("O16", fx.app.credit_shipment, fix)  # a credit note is the sales manager's
    order = fx.app.credit_shipment(fix.model_copy(update={"actor": MANAGER}))
    assert (order["receivable"], order["returned_amount"], order["completed_on"]) == (
        "300.00",
        "200.00",
        "2026-11-20",
    )
    assert fx.account(dealer)["exposure"] == "300.00"
    refused("O15", ask_return, fx, order_id, product, 4)  # the credited units never arrived


def test_o16_correction_shipment_and_acceptance_complete_the_order(fx: Fixture) -> None:
    dealer, product = fx.dealer(), fx.product(quantity=20)
    order_id = fx.order(dealer, product, 6)["id"]
    first = shipment_of(fx.ship(order_id, product, 3))
    second_order = fx.ship(order_id, product, 3)
    (second,) = set(second_order["shipments"]) - {first}
    correction_id = report(fx, order_id, first, product, 1)
    corrected = fx.app.ship_correction(
        c.CorrectShipment(actor=PRODUCTION, order_id=order_id, correction_id=correction_id)
    )
    assert (corrected["receivable"], stock(fx, product), corrected["completed_on"]) == ("600.00", 13, None)
    accept = c.AcceptDelivery(
        actor=SALES,
        order_id=order_id,
        shipment_id=second,
        accepted_on=date(2026, 11, 20),
        accepted_by="李经理",
    )
    done = fx.app.accept_delivery(accept)
    assert done["shipments"][second]["accepted_by"] == "李经理"
    assert done["completed_on"] == "2026-11-20"
    refused("O16", fx.app.accept_delivery, accept)  # once


def test_o16_acceptance_is_dated_between_shipping_and_today(fx: Fixture) -> None:
    dealer, product = fx.dealer(), fx.product(quantity=20)
    order_id = shipped_order(fx, dealer, product, 2)
    shipment_id = shipment_of(fx.app.get_order(c.GetOrder(order_id=order_id)))
    for day in (date(2026, 11, 19), date(2026, 11, 21)):
        accept = c.AcceptDelivery(
            actor=SALES, order_id=order_id, shipment_id=shipment_id, accepted_on=day, accepted_by="王伟"
        )
        refused("O16", fx.app.accept_delivery, accept)
