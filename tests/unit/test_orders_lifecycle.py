"""Issue 25, orders side: orders follows the customer's later life (C8, C10–C12, O4 rev 2), in memory."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import StoredEvent

from services.orders import commands as c
from services.orders.customer_view import InMemoryCustomerDirectory, fold
from services.orders.domain import CustomerAccount
from shared.contracts import Actor, Role
from shared.errors import DomainError, Forbidden, InvalidState
from tests.builders import kept_event
from tests.unit.test_orders_domain import SALES, Fixture, customer_events, envelope

REGIONAL = Actor(id="rm-1", role=Role.REGIONAL_MANAGER)
MANAGER = Actor(id="sm-1", role=Role.SALES_MANAGER)
TERMS = {"payment_terms_days": 45, "delivery_terms": "FOB", "product_scope": None, "annual_volume": None}


@pytest.fixture
def fx() -> Fixture:
    return Fixture()


def later(fx: Fixture, customer_id: str, *events: tuple[str, dict[str, Any]]) -> None:
    """Customer events after the fixture's four (registered, investigated, approved, contract signed)."""
    version = max(fx.customers.kept.events[customer_id]) + 1
    for offset, (event_type, data) in enumerate(events):
        fx.customers.apply(envelope(customer_id, version + offset, event_type, data))


def order(fx: Fixture, customer: str, product: str, quantity: int, **line: Any) -> dict[str, Any]:
    body = c.OrderLine(product_code=product, quantity=quantity, **line)
    return fx.app.place_order(c.PlaceOrder(actor=SALES, customer_id=customer, channel="fax", lines=[body]))


def held(result: dict[str, Any]) -> tuple[str, list[tuple[str, str | None]]]:
    return result["status"], [(h["rule"], h.get("term")) for h in result["holds"]]


def terms(**changes: Any) -> dict[str, Any]:
    return TERMS | changes


# The view follows every change ---------------------------------------------------------------------
LIFE: list[tuple[str, dict[str, Any]]] = [
    ("SalespersonReassigned", {"salesperson_id": "sp-2", "previous": "sp-1", "reason": "left"}),
    ("CustomerRegionMoved", {"region": "WEST", "previous": "EAST", "reason": "moved"}),
    ("CreditRevised", {"rating": "poor", "credit_limit": "500.00", "previous_limit": "1000.00",
                       "requested_limit": "500.00", "notes": ""}),
    ("CustomerOrdersHeld", {"reason": "poor credit rating", "rule": "C11"}),
    ("ContractChangeApproved", {"terms": terms(product_scope=["P-1"], annual_volume="5000.00"),
                                "previous_terms": None, "note": ""}),
    ("PrepaymentRecorded", {"year": 2026, "amount": "10000.00", "discount_year": 2027,
                            "discount_pct": "0.05"}),
]  # fmt: skip


def test_c10_the_view_follows_every_change_in_version_order_and_tolerates_redelivery() -> None:
    events = customer_events("c-7") + [envelope("c-7", 5 + i, t, d) for i, (t, d) in enumerate(LIFE)]
    in_order, shuffled = InMemoryCustomerDirectory(), InMemoryCustomerDirectory()
    for e in events:
        in_order.apply(e)
    for e in [*reversed(events), events[5], events[2], events[8]]:
        shuffled.apply(e)
    snapshot = shuffled.get("c-7")
    assert snapshot == in_order.get("c-7")
    assert snapshot is not None
    assert (snapshot.salesperson_id, snapshot.region, snapshot.credit_limit) == (
        "sp-2",
        "WEST",
        Decimal("500"),
    )
    assert snapshot.orders_held and snapshot.contract_number == "HT-1"
    assert (snapshot.product_scope, snapshot.annual_volume) == (("P-1",), Decimal("5000.00"))
    assert (snapshot.payment_terms_days, snapshot.discount_in(2027), snapshot.discount_in(2028)) == (
        45,
        Decimal("0.05"),
        None,
    )


def test_c11_orders_released_and_a_raise_approved_are_folded() -> None:
    events = [
        kept_event(
            5, "CreditRevised", {"rating": "fair", "credit_limit": "1000.00", "requested_limit": "3000.00"}
        ),
        kept_event(6, "CustomerOrdersHeld", {"reason": "x", "rule": "C11"}),
        kept_event(7, "CreditRaiseApproved", {"credit_limit": "3000.00", "previous_limit": "1000.00"}),
        kept_event(8, "CustomerOrdersReleased", {"reason": "reviewed"}),
    ]
    base = [(e.aggregate_version, e.event_type, e.data) for e in customer_events("c-8")]
    snapshot = fold("c-8", base + events)
    assert snapshot is not None
    assert (snapshot.credit_limit, snapshot.orders_held) == (Decimal("3000.00"), False)


def test_o4_contract_signed_v2_terms_drive_payment_terms_and_termination_ends_the_contract() -> None:
    base = [(e.aggregate_version, e.event_type, e.data) for e in customer_events("c-9")[:3]]
    signed = {"contract_number": "HT-2", "valid_from": "2026-01-01", "valid_to": "2026-12-31"}
    with_terms = fold("c-9", [*base, (4, "ContractSigned", signed | {"terms": terms(payment_terms_days=60)})])
    assert with_terms is not None and with_terms.payment_terms_days == 60
    ended = fold(
        "c-9",
        [
            *base,
            (4, "ContractSigned", signed | {"terms": terms(payment_terms_days=60)}),
            (5, "ContractTerminated", {"contract_number": "HT-2", "reason": "mutual", "note": ""}),
        ],
    )
    assert ended is not None
    assert not ended.has_contract_on(date(2026, 6, 1))
    assert (ended.contract_number, ended.payment_terms_days) == (None, None)


# O4 rev 2 ---------------------------------------------------------------------------------------------
def test_o4_an_order_outside_the_contracts_scope_is_held_naming_the_term(fx: Fixture) -> None:
    dealer, inside, outside = fx.dealer(credit_limit="100000"), fx.product("P-1"), fx.product("P-2")
    later(fx, dealer, ("ContractChangeApproved", {"terms": terms(product_scope=["P-1"]), "note": ""}))
    assert order(fx, dealer, inside, 1)["status"] == "accepted"
    refused = order(fx, dealer, outside, 1)
    assert held(refused) == ("pending_contract", [("O4", "product_scope")])
    assert "P-2" in refused["holds"][0]["message"]


def test_o4_an_order_over_the_remaining_annual_volume_is_held(fx: Fixture) -> None:
    dealer, product = fx.dealer(credit_limit="100000"), fx.product(quantity=100)
    later(fx, dealer, ("ContractChangeApproved", {"terms": terms(annual_volume="1000.00"), "note": ""}))
    assert order(fx, dealer, product, 6)["status"] == "accepted"  # 600 of 1,000
    over = order(fx, dealer, product, 5)  # 600 + 500 > 1,000
    assert held(over) == ("pending_contract", [("O4", "annual_volume")])
    assert order(fx, dealer, product, 4)["status"] == "accepted"  # the held order is not accepted volume


def test_o4_a_cancelled_order_frees_its_annual_volume(fx: Fixture) -> None:
    dealer, product = fx.dealer(credit_limit="100000"), fx.product(quantity=100)
    later(fx, dealer, ("ContractChangeApproved", {"terms": terms(annual_volume="1000.00"), "note": ""}))
    first = order(fx, dealer, product, 8)
    fx.app.cancel_order(c.CancelOrder(actor=MANAGER, order_id=first["id"], reason="changed mind"))
    assert order(fx, dealer, product, 8)["status"] == "accepted"


def test_o4_the_regional_manager_approves_an_order_breaking_a_term_others_may_not(fx: Fixture) -> None:
    dealer, product = fx.dealer(credit_limit="100000"), fx.product("P-1")
    later(fx, dealer, ("ContractChangeApproved", {"terms": terms(product_scope=["P-2"]), "note": ""}))
    waiting = order(fx, dealer, product, 1)
    release = c.ReleaseOrder(actor=MANAGER, order_id=waiting["id"], rule="O4")
    with pytest.raises(Forbidden):
        fx.app.release_order(release)
    released = fx.app.release_order(release.model_copy(update={"actor": REGIONAL}))
    assert (released["status"], released["holds"]) == ("accepted", [])


def test_o4_a_changed_contract_releases_the_orders_it_now_allows(fx: Fixture) -> None:
    dealer, product = fx.dealer(credit_limit="100000"), fx.product("P-1")
    later(fx, dealer, ("ContractChangeApproved", {"terms": terms(product_scope=["P-9"]), "note": ""}))
    waiting = order(fx, dealer, product, 1)
    assert fx.app.release_for_contract(dealer) == {"released": []}  # still outside the scope
    later(fx, dealer, ("ContractChangeApproved", {"terms": terms(product_scope=["P-1", "P-9"]), "note": ""}))
    assert fx.app.release_for_contract(dealer) == {"released": [waiting["id"]]}
    assert fx.app.get_order(c.GetOrder(order_id=waiting["id"]))["status"] == "accepted"


def test_o4_after_termination_new_orders_wait_for_a_contract_which_no_one_may_release(fx: Fixture) -> None:
    dealer, product = fx.dealer(credit_limit="100000"), fx.product()
    later(fx, dealer, ("ContractTerminated", {"contract_number": "HT-1", "reason": "mutual", "note": ""}))
    waiting = order(fx, dealer, product, 1)
    assert held(waiting) == ("pending_contract", [("O4", "contract")])
    with pytest.raises(InvalidState) as refused:
        fx.app.release_order(c.ReleaseOrder(actor=REGIONAL, order_id=waiting["id"], rule="O4"))
    assert refused.value.rule == "O4"


def test_o4_a_contract_starting_after_the_order_releases_it_once_in_force(fx: Fixture) -> None:
    dealer, product = fx.dealer(credit_limit="100000"), fx.product()
    later(fx, dealer, ("ContractTerminated", {"contract_number": "HT-1", "reason": "mutual", "note": ""}))
    waiting = order(fx, dealer, product, 1)  # 20 November
    signed = {"contract_number": "HT-3", "valid_from": "2026-11-25", "valid_to": "2027-11-24", "terms": TERMS}
    later(fx, dealer, ("ContractSigned", signed))
    assert fx.app.release_for_contract(dealer) == {"released": []}  # not in force yet
    fx.clock.set(datetime(2026, 11, 25, 2, 0, tzinfo=UTC))
    assert fx.app.release_for_contract(dealer) == {"released": [waiting["id"]]}


# C11 --------------------------------------------------------------------------------------------------
def test_c11_a_poor_rated_customers_new_order_is_held_until_the_sales_manager_releases_it(
    fx: Fixture,
) -> None:
    dealer, product = fx.dealer(credit_limit="100000"), fx.product()
    later(fx, dealer, ("CustomerOrdersHeld", {"reason": "poor credit rating", "rule": "C11"}))
    waiting = order(fx, dealer, product, 1)
    assert held(waiting) == ("on_hold", [("C11", None)])
    release = c.ReleaseOrder(actor=SALES, order_id=waiting["id"], rule="C11")
    with pytest.raises(Forbidden):
        fx.app.release_order(release)
    assert fx.app.release_order(release.model_copy(update={"actor": MANAGER}))["status"] == "accepted"
    later(fx, dealer, ("CustomerOrdersReleased", {"reason": "reviewed"}))
    assert order(fx, dealer, product, 1)["status"] == "accepted"


# C8 rev 2 ---------------------------------------------------------------------------------------------
def test_c8_the_prepayment_tier_price_is_accepted_in_the_following_year_only(fx: Fixture) -> None:
    direct, product = fx.dealer("d-1", kind="direct", credit_limit="100000"), fx.product(quantity=100)
    later(fx, direct, ("PrepaymentRecorded", {"year": 2026, "amount": "5000", "discount_year": 2027,
                                              "discount_pct": "0.035"}))  # fmt: skip
    tier = "96.50"  # 100.00 × (1 − 0.035)
    with pytest.raises(DomainError) as this_year:
        order(fx, direct, product, 1, unit_price=Decimal(tier))
    assert this_year.value.rule == "O2"
    fx.clock.set(datetime(2027, 3, 1, 2, 0, tzinfo=UTC))
    accepted = order(fx, direct, product, 2, unit_price=Decimal(tier))
    assert accepted["status"] == "accepted"
    assert (accepted["lines"][0]["discount_pct"], accepted["total_amount"]) == ("0.035", "193.00")
    fx.clock.set(datetime(2028, 3, 1, 2, 0, tzinfo=UTC))
    with pytest.raises(DomainError) as year_after:
        order(fx, direct, product, 1, unit_price=Decimal(tier))
    assert year_after.value.rule == "O2"


def test_c8_a_list_price_line_shows_no_discount(fx: Fixture) -> None:
    dealer, product = fx.dealer(credit_limit="100000"), fx.product()
    assert order(fx, dealer, product, 1)["lines"][0]["discount_pct"] is None


# C10 --------------------------------------------------------------------------------------------------
def test_c10_a_reassigned_and_moved_customers_new_orders_carry_the_new_salesperson_and_region(
    fx: Fixture,
) -> None:
    dealer, product = fx.dealer(credit_limit="100000"), fx.product()
    later(
        fx,
        dealer,
        ("SalespersonReassigned", {"salesperson_id": "sp-2", "previous": "sp-1", "reason": "left"}),
        ("CustomerRegionMoved", {"region": "WEST", "previous": "EAST", "reason": "moved"}),
    )
    placed = order(fx, dealer, product, 1)
    stored = fx.app.repository.get(UUID(placed["id"]))
    assert (stored.salesperson_id, stored.region) == ("sp-2", "WEST")


# Old stored events still load ---------------------------------------------------------------------------
def test_o4_an_account_and_an_order_stored_before_issue_25_still_load(fx: Fixture) -> None:
    """AccountOrderNoted version 1 (no date, no total) is upcast; an OrderPlaced whose lines have no
    ``discount_pct`` loads and shows none."""
    dealer, product = fx.dealer(credit_limit="100000"), fx.product()
    placed = order(fx, dealer, product, 1)
    older = Fixture()  # a store holding the same events as stored before this version
    for aggregate_id in (UUID(placed["id"]), CustomerAccount.create_id(dealer)):
        stored = []
        for event in fx.app.recorder.select_events(aggregate_id):
            state = fx.app.mapper.transcoder.decode(event.state)
            if event.topic.endswith("AccountOrderNoted"):
                assert state.pop("class_version") == 2
                del state["placed_on"], state["total"]
            for line in state.get("lines", []) if event.topic.endswith("OrderPlaced") else []:
                del line["discount_pct"]
            stored.append(
                StoredEvent(event.originator_id, event.originator_version, event.topic,
                            fx.app.mapper.transcoder.encode(state))
            )  # fmt: skip
        older.app.recorder.insert_events(stored)
    assert older.app.get_order(c.GetOrder(order_id=placed["id"]))["lines"][0]["discount_pct"] is None
    account = older.app.repository.get(CustomerAccount.create_id(dealer))
    assert "placed_on" not in account.orders[placed["id"]]
    assert account.accepted_between(date(2026, 1, 1), date(2027, 1, 1)) == Decimal("0.00")
