"""The in-memory half of the projections (pure): what each event adds, and order independence (R9)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from services.reporting.bulk import BATCH_TYPES
from services.reporting.projector import COUNTED, LoggedEvent, Projector
from services.reporting.tables import PERIOD_COUNTERS
from shared import complaints_contract, customer_contract, field_contract, orders_contract
from shared.events import contract_events
from tests.builders import customer_data

WHEN = datetime(2026, 11, 10, 4, tzinfo=UTC)


def event(
    service: str,
    event_type: str,
    data: dict[str, Any],
    aggregate: str = "a-1",
    version: int = 1,
    position: int = 1,
) -> LoggedEvent:
    if service == "customers":  # its events are read by their contract: whole
        data = customer_data(event_type, data)
    return LoggedEvent(service, position, event_type, aggregate, version, WHEN, data)


def order_event(event_type: str, order_id: str, version: int, **data: Any) -> LoggedEvent:
    return event("orders", event_type, data, order_id, version)


def counters(projector: Projector, customer: str = "c-1", period: str = "2026-11") -> dict[str, Decimal]:
    return dict(zip(PERIOD_COUNTERS, projector.periods[(customer, period)], strict=True))


def test_r2_walking_skeleton_events_add_up_per_customer_and_period() -> None:
    p = Projector("close_28th")
    p.apply_all(
        [
            event(
                "orders",
                "OrderPlaced",
                {
                    "customer_id": "c-1",
                    "total_amount": "1500.00",
                    "salesperson_id": "sp-1",
                    "customer_kind": "dealer",
                    "region": "EAST",
                    "lines": [{"product_code": "P-1", "quantity": 15, "amount": "1500.00"}],
                },
            ),
            event("orders", "OrderReserved", {"customer_id": "c-1", "amount": "1000.00"}),
            event("orders", "DepositReceived", {"customer_id": "c-1", "amount": "100.00"}),
            event(
                "complaints",
                "ComplaintLogged",
                {"customer_id": "c-1", "complaint_type": "service", "staff_id": "sp-1"},
            ),
            event(
                "complaints", "PenaltyIssued", {"customer_id": "c-1", "staff_id": "sp-1", "amount": "150.00"}
            ),
        ]
    )
    c = counters(p)
    assert (c["orders"], c["ordered_amount"], c["holds_made"], c["deposits"]) == (
        1,
        Decimal("1500.00"),
        1,
        100,
    )
    assert (c["service_complaints"], c["quality_complaints"], c["fines"]) == (1, 0, Decimal("150.00"))
    assert p.products_sold[("c-1", "2026-11", "P-1")] == [15, Decimal("1500.00")]
    assert p.staff[("sp-1", "2026-11")] == [1, Decimal("1500.00"), 1, 1, Decimal("150.00"), 0]
    # The order's kind/region is only a hint (version 0) until the customer's registration arrives.
    assert p.dims["c-1"]["info"] == (0, ("dealer", "EAST", "sp-1", None, None))


def test_r9_customer_dimension_is_the_same_whatever_the_order_of_events() -> None:
    events = [
        event(
            "customers",
            "CustomerRegistered",
            {"kind": "agent", "region": "WEST", "salesperson_id": "sp-2", "company_name": "X"},
            "c-1",
            1,
        ),
        event("customers", "CustomerGraded", {"grade": "C"}, "c-1", 4),
        event("customers", "CustomerGraded", {"grade": "A"}, "c-1", 5),
        event(
            "orders", "OrderPlaced", {"customer_id": "c-1", "customer_kind": "dealer", "total_amount": "1"}
        ),
    ]
    results = set()
    for order in itertools.permutations(events):
        p = Projector("close_28th")
        p.apply_all(order)
        results.add((p.dims["c-1"]["grade"], p.dims["c-1"]["info"][1][:3]))
    assert results == {((5, ("A",)), ("agent", "WEST", "sp-2"))}


def test_events_without_a_customer_or_of_unknown_types_change_nothing() -> None:
    p = Projector("close_28th")
    p.apply_all(
        [
            event("orders", "StockReceived", {"product_code": "P-1", "quantity": 5}),
            event("orders", "OrderShipped", {"amount": "10.00"}),
            event("complaints", "SomethingNew", {"customer_id": "c-1"}),
        ]
    )
    assert p.periods == {} and p.dims == {} and p.applied == 3


def test_r3_r12_an_order_keeps_its_latest_status_and_what_was_paid_and_shipped_in_any_order() -> None:
    placed = order_event(
        "OrderPlaced",
        "o-1",
        1,
        customer_id="c-1",
        total_amount="900.00",
        status="on_hold",
        deposit_applied="90.00",
    )
    later = [
        event("orders", "OrderReleased", {"customer_id": "c-1", "status": "accepted"}, "o-1", 2),
        event("orders", "CreditApplied", {"customer_id": "c-1", "amount": "10.00"}, "o-1", 3),
        event(
            "orders",
            "OrderShipped",
            {
                "customer_id": "c-1",
                "amount": "500.00",
                "shipment_id": "s-1",
                "due_on": "2026-12-10",
                "status": "accepted",
            },
            "o-1",
            4,
        ),
        order_event("PaymentReceived", "o-1", 5, customer_id="c-1", amount="200.00", status="accepted"),
        event("orders", "OrderCancelled", {"customer_id": "c-1", "reason": "x"}, "o-2", 2),
    ]
    rows = []
    for events in ([placed, *later], [*reversed(later), placed]):
        p = Projector("close_28th")
        p.apply_all(events)
        rows.append((p.rows("orders"), p.rows("receivables"), p.rows("leaving")))
    assert rows[0] == rows[1]
    orders, receivables, cancellations = rows[0]
    # (order, customer, total, status, placed version, status version, paid, shipped)
    assert orders[0] == (
        "o-1",
        "c-1",
        Decimal("900.00"),
        "accepted",
        1,
        5,
        Decimal("300.00"),
        Decimal("500.00"),
    )
    assert receivables == [("o-1", "s-1", "c-1", Decimal("500.00"), date(2026, 12, 10))]
    # a cancellation leaves the period it happens in (R2 rev 2), with nothing credited and no returned lines
    assert cancellations == [("o-2", "2026-11", None, None)]
    assert orders[1][3] == "cancelled"


def test_o6_r3_a_credit_note_an_order_held_again_and_opening_receivables_reach_the_exposure_rows() -> None:
    p = Projector("close_28th")
    p.apply_all(
        [
            order_event("OrderPlaced", "o-1", 1, customer_id="c-1", total_amount="600.00", status="on_hold"),
            event("orders", "OrderReleased", {"customer_id": "c-1", "status": "accepted"}, "o-1", 2),
            event("orders", "OrderHeld", {"customer_id": "c-1", "rule": "O6", "status": "on_hold"}, "o-1", 3),
            order_event(
                "CreditNoteIssued",
                "o-2",
                4,
                customer_id="c-1",
                amount="150.00",
                to_receivable="100.00",
                to_credit="50.00",
            ),
            order_event(
                "OpeningReceivableRecorded",
                "acct-1",
                2,
                customer_id="c-1",
                receivable_id="r-1",
                amount="300.00",
                due_on="2026-12-01",
            ),
            order_event(
                "OpeningReceivablePaid", "acct-1", 3, customer_id="c-1", receivable_id="r-1", amount="120.00"
            ),
        ]
    )
    orders = {row[0]: row for row in p.rows("orders")}
    assert orders["o-1"][3] == "on_hold"  # held by O6 again after its O5/O4/O8 release
    assert orders["o-2"][6] == Decimal("100.00")  # only the part off the receivable settles the order
    assert orders["r-1"] == (
        "r-1",
        "c-1",
        Decimal("300.00"),
        "opening",
        2,
        2,
        Decimal("120.00"),
        Decimal("300.00"),
    )
    assert p.rows("receivables") == [("r-1", "opening", "c-1", Decimal("300.00"), date(2026, 12, 1))]
    sales = counters(p)
    # The opening receivable is no sale; the credit note leaves the net sales (R2 rev 2).
    assert (sales["orders"], sales["ordered_amount"], sales["returned_amount"]) == (
        1,
        Decimal("450.00"),
        Decimal("150.00"),
    )


def test_the_live_batch_function_takes_at_most_postgresqls_100_arguments() -> None:
    # PostgreSQL refuses a function of more than 100 arguments (FUNC_MAX_ARGS): the batch would not install.
    assert len(BATCH_TYPES) <= 100


def test_r12_a_batch_names_each_order_whose_unpaid_receivables_it_may_change() -> None:
    opening = {"customer_id": "c-3", "receivable_id": "r-1", "amount": "300.00", "due_on": "2026-12-01"}
    batch = [
        event("orders", "PaymentReceived", {"customer_id": "c-1", "amount": "100.00"}, "o-1", 3),
        event(
            "orders", "OrderShipped", {"customer_id": "c-2", "amount": "50.00", "shipment_id": "s-1"}, "o-2"
        ),
        event("orders", "OpeningReceivableRecorded", opening, "acct-1"),
        event("complaints", "ComplaintLogged", {"customer_id": "c-1", "complaint_type": "quality"}, "k-1"),
    ]
    p = Projector("close_28th")
    p.apply_all(batch)
    assert p.rows("unpaid_receivables") == [("o-1",), ("o-2",), ("r-1",)]
    # A rebuild of other projections leaves it alone (it is rebuilt with the orders and receivables it reads).
    customers_only = Projector("close_28th", only=frozenset({"customers"}))
    customers_only.apply_all(batch)
    assert customers_only.rows("unpaid_receivables") == []


def test_every_event_of_another_service_the_projector_handles_is_one_its_contract_declares() -> None:
    declared = {
        event.key(): event
        for contract in (customer_contract, orders_contract, complaints_contract, field_contract)
        for event in contract_events(contract)
    }
    handled = {key for key in Projector("close_28th").handlers if key[0] != "reporting"}
    assert handled - set(declared) == set()
    counted_fields = {
        field for key, (_, field) in COUNTED.items() if field and field not in declared[key].model_fields
    }
    assert counted_fields == set()
