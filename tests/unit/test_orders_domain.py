"""Orders domain and application on the in-memory store, with an in-memory customer view."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from services.orders import commands as c
from services.orders.application import OrdersApplication
from services.orders.customer_view import InMemoryCustomerDirectory, fold
from services.orders.domain import CustomerSnapshot, hold_expiry, request_deadline
from shared.contracts import Actor, Role
from shared.errors import DomainError
from tests.unit.orders_kit import (
    FINANCE,
    GM,
    SALES,
    START,
    Fixture,
    customer_events,
    envelope,
    shipped_order,
)


@pytest.fixture
def fx() -> Fixture:
    return Fixture()


# The customer view ------------------------------------------------------------------------------
def test_customer_view_is_the_same_whatever_the_delivery_order_or_redelivery() -> None:
    events = customer_events("c-9")
    in_order, shuffled = InMemoryCustomerDirectory(), InMemoryCustomerDirectory()
    for e in events:
        in_order.apply(e)
    for e in [events[3], events[1], events[3], events[0], events[2], events[1]]:
        shuffled.apply(e)
    assert in_order.get("c-9") == shuffled.get("c-9")
    snapshot = shuffled.get("c-9")
    assert snapshot is not None
    assert (snapshot.status, snapshot.credit_limit, snapshot.version) == ("approved", Decimal("1000.00"), 4)
    assert snapshot.has_contract_on(date(2026, 6, 1)) and not snapshot.has_contract_on(date(2027, 1, 1))


def test_customer_view_knows_nobody_before_registration_arrives() -> None:
    assert fold("c-1", [(3, "CustomerApproved", {"code": "X"})]) is None


# O9 expiry arithmetic ---------------------------------------------------------------------------
def test_o9_expiry_is_72_hours_within_the_month() -> None:
    assert hold_expiry(START, 72) == START + timedelta(hours=72)


def test_o9_expiry_never_crosses_the_month_end_in_shanghai() -> None:
    # 30 Nov 20:00 UTC is 1 Dec 04:00 in Shanghai: the month there is December, ending 31 Dec 16:00 UTC
    assert hold_expiry(datetime(2026, 11, 30, 20, 0, tzinfo=UTC), 72) == datetime(
        2026, 12, 3, 20, 0, tzinfo=UTC
    )
    assert hold_expiry(datetime(2026, 12, 30, 4, 0, tzinfo=UTC), 72) == datetime(
        2026, 12, 31, 16, 0, tzinfo=UTC
    )


def test_o9_deposit_hold_and_refusals_in_the_domain(fx: Fixture) -> None:
    dealer, product = fx.dealer(), fx.product()
    with pytest.raises(DomainError) as refused:
        fx.app.reserve_goods(
            c.ReserveGoods(
                actor=SALES, customer_id=dealer, product_code=product, quantity=10, deposit=Decimal("99")
            )
        )
    assert refused.value.rule == "O9"
    hold = fx.app.reserve_goods(
        c.ReserveGoods(
            actor=SALES, customer_id=dealer, product_code=product, quantity=10, deposit=Decimal("100")
        )
    )
    assert hold["status"] == "reserved"
    with pytest.raises(DomainError) as short:
        fx.app.reserve_goods(
            c.ReserveGoods(
                actor=SALES, customer_id=dealer, product_code=product, quantity=1, deposit=Decimal("10")
            )
        )
    assert short.value.rule == "O9"


def test_o9_expiry_job_expires_once_and_credits_the_deposit(fx: Fixture) -> None:
    dealer, product = fx.dealer(), fx.product()
    hold = fx.app.reserve_goods(
        c.ReserveGoods(
            actor=SALES, customer_id=dealer, product_code=product, quantity=4, deposit=Decimal("40")
        )
    )
    assert fx.app.expire_due_reservations() == []
    fx.clock.advance(timedelta(hours=72))
    assert fx.app.expire_due_reservations() == [hold["id"]]
    assert fx.app.expire_due_reservations() == []
    assert fx.app.get_product(c.GetProduct(product_code=product))["available"] == 10
    assert fx.account(dealer)["credit"] == "40.00"


def one_unit(fx: Fixture, dealer: str, product: str) -> dict[str, Any]:
    return fx.order(dealer, product, 1, "phone")


def test_o9_an_expired_holds_deposit_pays_toward_the_next_orders_until_it_is_spent(fx: Fixture) -> None:
    dealer, product = fx.dealer(credit_limit="100000"), fx.product()
    fx.app.reserve_goods(
        c.ReserveGoods(
            actor=SALES, customer_id=dealer, product_code=product, quantity=4, deposit=Decimal("150")
        )
    )
    fx.clock.advance(timedelta(hours=72))
    fx.app.expire_due_reservations()
    first = one_unit(fx, dealer, product)  # 100.00, paid in full from the credit of 150.00
    assert (first["total_amount"], first["paid"]) == ("100.00", "100.00")
    assert fx.account(dealer)["credit"] == "50.00"
    second = one_unit(fx, dealer, product)  # the 50.00 left pays half of it
    assert second["paid"] == "50.00"
    third = one_unit(fx, dealer, product)
    assert third["paid"] == "0.00"
    assert fx.account(dealer)["credit"] == "0.00"
    types = [type(e).__name__ for e in fx.app.events.get(UUID(second["id"]))]
    assert types == ["OrderPlaced", "CreditApplied"]


def test_o1_a_cancelled_orders_deposit_goes_back_to_the_customers_credit(fx: Fixture) -> None:
    dealer, product = fx.dealer(credit_limit="100000"), fx.product()
    hold = fx.app.reserve_goods(
        c.ReserveGoods(
            actor=SALES, customer_id=dealer, product_code=product, quantity=4, deposit=Decimal("40")
        )
    )
    order = fx.app.convert_reservation(c.ConvertReservation(actor=SALES, reservation_id=hold["id"]))
    assert order["paid"] == "40.00"
    manager = Actor(id="sm-1", role=Role.SALES_MANAGER)
    fx.app.cancel_order(c.CancelOrder(actor=manager, order_id=order["id"], reason="changed mind"))
    assert fx.account(dealer)["credit"] == "40.00"
    assert one_unit(fx, dealer, product)["paid"] == "40.00"  # and pays toward the next order


# O2 / O6 / O11 / O12 / O13 in the application ------------------------------------------------------
def test_o2_major_reduction_needs_three_of_four_heads(fx: Fixture) -> None:
    dealer, product = fx.dealer(), fx.product()
    exception = fx.app.request_price_exception(
        c.RequestPriceException(
            actor=SALES, customer_id=dealer, product_code=product, unit_price=Decimal("89.99"), reason="x"
        )
    )
    assert exception["major"] is True
    fx.app.approve_price_exception(c.ApprovePriceException(actor=GM, exception_id=exception["id"]))
    votes = [(Role.SALES_MANAGER, True), (Role.FINANCE, False), (Role.PRODUCTION, True)]
    for role, in_favour in votes:
        result = fx.app.vote_price_exception(
            c.VotePriceException(
                actor=Actor(id=role.value, role=role), exception_id=exception["id"], in_favour=in_favour
            )
        )
    assert result["granted"] is False
    result = fx.app.vote_price_exception(
        c.VotePriceException(
            actor=Actor(id="md", role=Role.MARKETING_DIRECTOR), exception_id=exception["id"], in_favour=True
        )
    )
    assert result["granted"] is True


def test_o6_credit_limit_counts_outstanding_receivables(fx: Fixture) -> None:
    dealer, product = fx.dealer(credit_limit="1000.00"), fx.product(quantity=20)
    first = shipped_order(fx, dealer, product, 8)
    second = fx.order(dealer, product, 3)
    assert (second["status"], second["holds"][0]["rule"]) == ("on_hold", "O6")
    fx.app.record_payment(c.RecordPayment(actor=FINANCE, order_id=first, amount=Decimal("800")))
    third = fx.order(dealer, product, 3)
    assert third["status"] == "accepted"


def converted_with_deposit(fx: Fixture, customer: str, product: str) -> dict[str, Any]:
    """A hold of 10 units (1,000.00) against a deposit of 400.00, converted into an order."""
    hold = fx.app.reserve_goods(
        c.ReserveGoods(
            actor=SALES, customer_id=customer, product_code=product, quantity=10, deposit=Decimal("400")
        )
    )
    return fx.app.convert_reservation(c.ConvertReservation(actor=SALES, reservation_id=hold["id"]))


def test_o6_a_converted_holds_deposit_is_no_receivable(fx: Fixture) -> None:
    dealer, product = fx.dealer(credit_limit="1000.00"), fx.product(quantity=20)
    shipped_order(fx, dealer, product, 3)  # 300.00 outstanding
    # 300.00 + the 1,000.00 order would exceed 1,000.00; the deposit pays 400.00 of it at once
    order = converted_with_deposit(fx, dealer, product)
    assert (order["status"], order["holds"]) == ("accepted", [])


def test_o6_the_customers_credit_is_no_receivable(fx: Fixture) -> None:
    dealer, product = fx.dealer(credit_limit="1000.00"), fx.product(quantity=30)
    shipped_order(fx, dealer, product, 3)  # 300.00 outstanding
    fx.app.reserve_goods(
        c.ReserveGoods(
            actor=SALES, customer_id=dealer, product_code=product, quantity=4, deposit=Decimal("150")
        )
    )
    fx.clock.advance(timedelta(hours=72))
    fx.app.expire_due_reservations()  # the deposit stays as 150.00 of credit
    paid_in_part = fx.order(dealer, product, 8)
    assert (paid_in_part["status"], paid_in_part["paid"]) == ("accepted", "150.00")  # 300 + 650 ≤ 1,000
    over = fx.order(dealer, product, 8)
    assert (over["status"], over["holds"][0]["rule"]) == ("on_hold", "O6")  # no credit left: 300 + 800


def test_o7_a_converted_holds_deposit_is_no_capital_taken(fx: Fixture) -> None:
    branch, product = fx.dealer("b-9", kind="branch"), fx.product(quantity=20)
    fx.customers.apply(envelope("b-9", 5, "CapitalLimitSet", {"capital_limit": "1000.00"}))
    fx.order(branch, product, 3, "branch")
    # 300.00 taken + the 1,000.00 order would exceed 1,000.00; the deposit pays 400.00 of it at once
    order = converted_with_deposit(fx, branch, product)
    assert (order["status"], order["holds"]) == ("accepted", [])


def test_o11_overdue_counts_the_unpaid_part_of_the_oldest_shipment(fx: Fixture) -> None:
    dealer, product = fx.dealer(credit_limit="100000"), fx.product(quantity=20)
    order = fx.order(dealer, product, 10)
    fx.ship(order["id"], product, 5)
    fx.clock.advance(timedelta(days=10))
    fx.ship(order["id"], product, 5)
    fx.app.record_payment(c.RecordPayment(actor=FINANCE, order_id=order["id"], amount=Decimal("200")))
    fx.clock.advance(timedelta(days=21))  # the first shipment is 31 days old, the second 21
    assert fx.account(dealer)["overdue"] == "300.00"


def test_o12_reorder_point_averages_last_month_and_same_month_last_year(fx: Fixture) -> None:
    branch = fx.dealer("b-1", kind="branch")
    fx.customers.apply(envelope("b-1", 5, "CapitalLimitSet", {"capital_limit": "99999999.00"}))
    product = fx.product(quantity=1000)
    for when, quantity in (
        (datetime(2025, 11, 10, 2, tzinfo=UTC), 60),
        (datetime(2026, 10, 10, 2, tzinfo=UTC), 310),
    ):
        fx.clock.set(when)
        order = shipped_order(fx, branch, product, quantity, channel="branch")
        paid = Decimal(quantity * 100)  # paid at once, so nothing is overdue (O5) a year later
        fx.app.record_payment(c.RecordPayment(actor=FINANCE, order_id=order, amount=paid))
    fx.clock.set(datetime(2026, 11, 1, 2, tzinfo=UTC))
    result = fx.app.compute_reorder_points(
        c.ComputeReorderPoints(
            actor=Actor(id="md", role=Role.MARKETING_DIRECTOR),
            customer_id=branch,
            month="2026-11",
            transit_days=3,
        )
    )
    assert result["reorder_points"] == {product: 18}  # ceil((10 + 2) / 2 × 3)


def test_o13_deadline_is_friday_18_00_shanghai_before_the_week() -> None:
    assert request_deadline("2026-W49") == datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def test_c9_suspended_customer_cannot_order() -> None:
    snapshot = CustomerSnapshot(
        customer_id="c", kind="dealer", region="EAST", salesperson_id="s", status="suspended"
    )
    with pytest.raises(DomainError) as refused:
        snapshot.require_can_trade("order")
    assert refused.value.rule == "C9"


def test_o9_hold_book_and_accounts_load_the_same_from_snapshots(
    fx: Fixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.orders.domain import CustomerAccount, HoldBook

    monkeypatch.setattr(OrdersApplication, "snapshotting_intervals", {HoldBook: 2, CustomerAccount: 2})
    dealer, product = fx.dealer(credit_limit="100000"), fx.product(quantity=100)
    holds = [
        fx.app.reserve_goods(
            c.ReserveGoods(
                actor=SALES, customer_id=dealer, product_code=product, quantity=1, deposit=Decimal("10")
            )
        )["id"]
        for _ in range(5)
    ]
    assert list(fx.app.snapshots.get(HoldBook.create_id()))  # type: ignore[union-attr]
    fx.clock.advance(timedelta(hours=72))
    assert sorted(fx.app.expire_due_reservations()) == sorted(holds)
    assert fx.account(dealer)["credit"] == "50.00"


def test_o1_cancelled_order_frees_the_capital_it_occupied(fx: Fixture) -> None:
    dealer, product = fx.dealer(credit_limit="100000"), fx.product(quantity=10)
    order = fx.order(dealer, product, 3)
    assert fx.account(dealer)["capital_occupied"] == "300.00"
    with pytest.raises(DomainError) as refused:
        fx.app.cancel_order(c.CancelOrder(actor=SALES, order_id=order["id"], reason="changed mind"))
    assert refused.value.rule == "O1"
    manager = Actor(id="sm-1", role=Role.SALES_MANAGER)
    assert (
        fx.app.cancel_order(c.CancelOrder(actor=manager, order_id=order["id"], reason="changed mind"))[
            "status"
        ]
        == "cancelled"
    )
    assert fx.account(dealer)["capital_occupied"] == "0.00"


def test_o12_monthly_job_computes_each_branch_once_a_month(fx: Fixture) -> None:
    branch = fx.dealer("b-2", kind="branch")
    fx.customers.apply(envelope("b-2", 5, "CapitalLimitSet", {"capital_limit": "99999999.00"}))
    product = fx.product(quantity=1000)
    fx.clock.set(datetime(2026, 10, 10, 2, tzinfo=UTC))
    order = fx.order(branch, product, 310, "branch")
    fx.ship(order["id"], product, 310)
    assert fx.app.compute_due_reorder_points() == []  # no transit days known yet
    director = Actor(id="md", role=Role.MARKETING_DIRECTOR)
    fx.app.compute_reorder_points(
        c.ComputeReorderPoints(actor=director, customer_id=branch, month="2026-10", transit_days=2)
    )
    assert fx.app.compute_due_reorder_points() == []  # October is done
    fx.clock.set(datetime(2026, 11, 1, 2, tzinfo=UTC))
    assert fx.app.compute_due_reorder_points() == [branch]
    assert fx.app.compute_due_reorder_points() == []
    assert fx.account(branch)["reorder_points"] == {product: 20}  # 10/day × 2


def test_o13_weekly_job_matches_each_list_once_after_its_week(fx: Fixture) -> None:
    branch = fx.dealer("b-3", kind="branch")
    fx.customers.apply(envelope("b-3", 5, "CapitalLimitSet", {"capital_limit": "99999999.00"}))
    product = fx.product(quantity=100)
    manager = Actor(id="bm-1", role=Role.BRANCH_MANAGER)
    fx.clock.set(datetime(2026, 11, 20, 2, tzinfo=UTC))
    submitted = fx.app.submit_request_list(
        c.SubmitRequestList(
            actor=manager,
            customer_id=branch,
            week="2026-W48",
            lines=[c.RequestLine(product_code=product, quantity=4)],
        )
    )
    fx.clock.set(datetime(2026, 11, 24, 2, tzinfo=UTC))
    fx.order(branch, product, 2, "branch", actor=manager)
    assert fx.app.match_due_request_lists() == []  # week 48 is not over
    fx.clock.set(datetime(2026, 12, 1, 2, tzinfo=UTC))
    assert fx.app.match_due_request_lists() == [submitted["id"]]
    assert fx.app.match_due_request_lists() == []
    with pytest.raises(DomainError) as again:
        fx.app.match_request_list(
            c.MatchRequestList(
                actor=Actor(id="md", role=Role.MARKETING_DIRECTOR), customer_id=branch, week="2026-W48"
            )
        )
    assert again.value.rule == "O13"
