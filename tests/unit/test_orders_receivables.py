"""O11 rev 2: the customer's own payment terms, reminders before due and when overdue, opening receivables."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from services.orders import commands as c
from services.orders.application import OrdersApplication
from services.orders.customer_view import days_in
from services.orders.domain import CustomerAccount
from shared.contracts import Actor, Role
from shared.errors import DomainError
from shared.settings import Settings
from tests.unit.test_orders_domain import FINANCE, PRODUCTION, SALES, Fixture, customer_events, envelope

SHIPPED_ON = date(2026, 11, 20)  # the fixture's clock, in Shanghai
CONTRACT_TERMS = {
    "payment_terms_days": 30,
    "delivery_terms": "",
    "product_scope": None,
    "annual_volume": None,
}


@pytest.fixture
def fx() -> Fixture:
    return Fixture()


def customer_with(fx: Fixture, customer_id: str, registered: dict[str, Any], *terms: dict[str, Any]) -> str:
    """A dealer whose registration carries ``registered`` besides kind, region and salesperson, and whose
    contracts signed after it carry ``terms`` each."""
    events = customer_events(customer_id, credit_limit="100000")
    first = events[0]
    events[0] = envelope(customer_id, 1, "CustomerRegistered", {**first.data, **registered})
    signed = next(e.data for e in events if e.event_type == "ContractSigned")
    for version, agreed in enumerate(terms, start=len(events) + 1):
        events.append(
            envelope(customer_id, version, "ContractSigned", signed | {"terms": CONTRACT_TERMS | agreed})
        )
    for e in events:
        fx.customers.apply(e)
    return customer_id


def ship_all(fx: Fixture, customer: str, product: str, quantity: int = 2) -> dict[str, Any]:
    line = c.OrderLine(product_code=product, quantity=quantity)
    order = fx.app.place_order(c.PlaceOrder(actor=SALES, customer_id=customer, channel="fax", lines=[line]))
    ship = c.ShipLine(product_code=product, quantity=quantity)
    return fx.app.ship_order(c.ShipOrder(actor=PRODUCTION, order_id=order["id"], lines=[ship]))


def reminders(app: OrdersApplication, customer: str) -> list[tuple[str, str]]:
    events = app.events.get(CustomerAccount.create_id(customer))
    return [
        (type(e).__name__, str(e.due_on))  # type: ignore[attr-defined]
        for e in events
        if type(e).__name__ in ("ReceivableDueSoon", "ReceivableOverdue")
    ]


def test_o11_payment_terms_default_to_30_days(fx: Fixture) -> None:
    shipped = ship_all(fx, fx.dealer(credit_limit="100000"), fx.product())
    assert shipped["due_on"] == (SHIPPED_ON + timedelta(days=30)).isoformat()


def test_o11_payment_terms_are_the_customers_preferred_terms(fx: Fixture) -> None:
    dealer = customer_with(fx, "c-45", {"preferred_payment_terms": "45 days"})
    assert ship_all(fx, dealer, fx.product())["due_on"] == (SHIPPED_ON + timedelta(days=45)).isoformat()


def test_o11_contract_payment_terms_win_over_the_preferred_ones(fx: Fixture) -> None:
    dealer = customer_with(fx, "c-60", {"preferred_payment_terms": "45 days"}, {"payment_terms_days": 60})
    assert ship_all(fx, dealer, fx.product())["due_on"] == (SHIPPED_ON + timedelta(days=60)).isoformat()


def test_o11_reminders_3_days_before_due_and_when_overdue_each_raised_once(fx: Fixture) -> None:
    dealer, product = fx.dealer(credit_limit="100000"), fx.product()
    due_on = ship_all(fx, dealer, product)["due_on"]
    fx.clock.advance(timedelta(days=26))
    assert fx.app.remind_due_receivables() == []  # 4 days before
    fx.clock.advance(timedelta(days=1))
    assert len(fx.app.remind_due_receivables()) == 1  # 3 days before
    assert fx.app.remind_due_receivables() == []
    fx.clock.advance(timedelta(days=3))
    assert fx.app.remind_due_receivables() == []  # due today: not overdue yet
    fx.clock.advance(timedelta(days=1))
    assert len(fx.app.remind_due_receivables()) == 1
    fx.clock.advance(timedelta(days=5))
    assert fx.app.remind_due_receivables() == []
    assert reminders(fx.app, dealer) == [("ReceivableDueSoon", due_on), ("ReceivableOverdue", due_on)]


def test_o11_a_paid_receivable_gets_no_reminder(fx: Fixture) -> None:
    dealer, product = fx.dealer(credit_limit="100000"), fx.product()
    shipped = ship_all(fx, dealer, product)
    fx.app.record_payment(c.RecordPayment(actor=FINANCE, order_id=shipped["id"], amount=Decimal("200")))
    fx.clock.advance(timedelta(days=40))
    assert fx.app.remind_due_receivables() == []
    assert reminders(fx.app, dealer) == []


def test_o11_reminders_survive_a_restart(tmp_path: Path) -> None:
    fx = Fixture()
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(tmp_path / "orders.db"),
        "APPLICATION_RECORDER_TOPIC": "",  # the library's own SQLite recorder, not the PostgreSQL one
    }
    fx.app = OrdersApplication(Settings(), fx.clock, fx.customers, env=env)
    dealer, product = fx.dealer(credit_limit="100000"), fx.product()
    ship_all(fx, dealer, product)
    fx.clock.advance(timedelta(days=27))
    assert len(fx.app.remind_due_receivables()) == 1
    fx.app.close()
    restarted = OrdersApplication(Settings(), fx.clock, fx.customers, env=env)
    try:
        assert restarted.remind_due_receivables() == []
        fx.clock.advance(timedelta(days=4))
        assert len(restarted.remind_due_receivables()) == 1
        assert [kind for kind, _ in reminders(restarted, dealer)] == [
            "ReceivableDueSoon",
            "ReceivableOverdue",
        ]
    finally:
        restarted.close()


def opening(fx: Fixture, customer: str, amount: str, due: date, actor: Actor = FINANCE) -> dict[str, Any]:
    return fx.app.record_opening_receivable(
        c.RecordOpeningReceivable(
            actor=actor,
            customer_id=customer,
            invoice_number="INV-2026-001",
            amount=Decimal(amount),
            invoice_date=due - timedelta(days=30),
            due_date=due,
        )
    )


def test_o11_opening_receivables_hold_o5_and_o6_from_the_first_day(fx: Fixture) -> None:
    dealer, product = fx.dealer(credit_limit="1000.00"), fx.product()
    recorded = opening(fx, dealer, "900.00", SHIPPED_ON - timedelta(days=2))  # overdue already
    account = fx.app.get_account(c.GetAccount(customer_id=dealer))
    assert (account["exposure"], account["overdue"]) == ("900.00", "900.00")
    line = c.OrderLine(product_code=product, quantity=2)
    held = fx.app.place_order(c.PlaceOrder(actor=SALES, customer_id=dealer, channel="fax", lines=[line]))
    assert [h["rule"] for h in held["holds"]] == ["O5", "O6"]
    paid = fx.app.record_opening_payment(
        c.RecordOpeningPayment(
            actor=FINANCE, customer_id=dealer, receivable_id=recorded["id"], amount=Decimal("900.00")
        )
    )
    assert paid["released"] == [held["id"]]  # O5 cleared; O6 waits for the sales manager
    assert fx.app.get_order(c.GetOrder(order_id=held["id"]))["holds"][0]["rule"] == "O6"


def test_o11_opening_receivables_are_recorded_by_finance_once_per_invoice(fx: Fixture) -> None:
    dealer = fx.dealer(credit_limit="100000")
    with pytest.raises(DomainError) as refused:
        opening(fx, dealer, "100.00", SHIPPED_ON, actor=SALES)
    assert refused.value.rule == "O11"
    opening(fx, dealer, "100.00", SHIPPED_ON)
    with pytest.raises(DomainError) as again:
        opening(fx, dealer, "100.00", SHIPPED_ON)
    assert again.value.rule == "O11"
    events = fx.app.events.get(CustomerAccount.create_id(dealer))
    assert [type(e).__name__ for e in events].count("OpeningReceivableRecorded") == 1


def test_o11_an_opening_receivable_is_reminded_of_like_any_other(fx: Fixture) -> None:
    dealer = fx.dealer(credit_limit="100000")
    opening(fx, dealer, "100.00", SHIPPED_ON + timedelta(days=2))
    assert len(fx.app.remind_due_receivables()) == 1
    assert reminders(fx.app, dealer) == [("ReceivableDueSoon", (SHIPPED_ON + timedelta(days=2)).isoformat())]


def test_o11_an_unknown_receivable_cannot_be_paid(fx: Fixture) -> None:
    dealer = fx.dealer(credit_limit="100000")
    opening(fx, dealer, "100.00", SHIPPED_ON)
    pay = c.RecordOpeningPayment(
        actor=FINANCE, customer_id=dealer, receivable_id=str(UUID(int=7)), amount=Decimal("1")
    )
    with pytest.raises(DomainError) as refused:
        fx.app.record_opening_payment(pay)
    assert (refused.value.code, refused.value.rule) == ("not_found", "O11")


def test_o11_only_the_system_or_finance_sends_the_reminders(fx: Fixture) -> None:
    with pytest.raises(DomainError) as refused:
        fx.app.remind_receivables(c.RemindReceivables(actor=SALES))
    assert refused.value.rule == "O11"
    assert fx.app.remind_receivables(c.RemindReceivables(actor=Actor(id="s", role=Role.SYSTEM))) == {
        "reminded": []
    }


@pytest.mark.parametrize(
    ("written", "days"), [("45 days", 45), ("月结60天", 60), ("net 1 day", 1), ("cash on delivery", None)]
)
def test_o11_payment_terms_are_read_from_the_application_forms_text(written: str, days: int | None) -> None:
    assert days_in(written) == days


def test_o11_an_opening_receivable_falls_due_on_or_after_its_invoice(fx: Fixture) -> None:
    dealer = fx.dealer(credit_limit="100000")
    early = c.RecordOpeningReceivable(
        actor=FINANCE,
        customer_id=dealer,
        invoice_number="INV-7",
        amount=Decimal("10"),
        invoice_date=SHIPPED_ON,
        due_date=SHIPPED_ON - timedelta(days=1),
    )
    with pytest.raises(DomainError) as refused:
        fx.app.record_opening_receivable(early)
    assert (refused.value.rule, refused.value.details["field"]) == ("O11", "due_date")
    with pytest.raises(DomainError) as no_account:  # the refusal stored nothing, not even the account
        fx.app.get_account(c.GetAccount(customer_id=dealer))
    assert no_account.value.code == "not_found"
