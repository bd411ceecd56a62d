"""The copy every command gets of a cached aggregate (``SalesAggregate.__deepcopy__``): as independent
of the cached one as ``copy.deepcopy`` makes it, so a command that changes its copy and is then
refused leaves the cache as it was."""

from __future__ import annotations

import copy
import gc
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from services.orders.domain import CustomerAccount, events
from shared.aggregate import plain_copy
from tests.tally import META, Tally


class Colour(Enum):
    RED = "red"


@dataclass
class Box:
    items: list[int]


def test_changing_the_copy_of_an_aggregate_in_place_leaves_the_cached_one_as_it_was() -> None:
    tally = Tally("t", meta=META)
    tally.increase(META, key="a")
    tally.collect_events()
    before = copy.deepcopy(tally.__dict__)  # stdlib: built by the library's own rules

    clone = copy.deepcopy(tally)
    clone.by_key["a"] = 99
    clone.by_key["b"] = 1
    clone.count += 1

    assert type(clone) is Tally and clone.id == tally.id and clone.version == tally.version
    assert tally.__dict__ == before


# The fields of an account's events that the tests below do not vary.
NOTED: dict[str, Any] = {
    "receivable": Decimal("0.00"),
    "week": "2026-W48",
    "placed_on": None,
    "total": None,
}
SHIPPED: dict[str, Any] = {
    "due_on": date(2026, 12, 1),
    "month": "2026-11",
}


def noted(account: CustomerAccount, order_id: str, status: str, open_amount: str, units: int) -> None:
    """The account's event noting an order of ``units`` of P1."""
    order = {
        "order_id": order_id,
        "status": status,
        "open_amount": Decimal(open_amount),
        "lines": {"P1": units},
    }
    account.record(events.AccountOrderNoted, META, **order, **NOTED)


def shipped(account: CustomerAccount, amount: str, units: int) -> None:
    """The account's event raising the receivable of a shipment of ``units`` of order o-1."""
    shipment = {"order_id": "o-1", "amount": Decimal(amount), "quantities": {"P1": units}}
    account.record(events.ReceivableRaised, META, **shipment, **SHIPPED)


def test_changing_the_copy_of_an_account_by_its_events_leaves_the_cached_account_as_it_was() -> None:
    """The account's entries are shared by its copies (``SHARED_VALUES``): its events replace them."""
    account = CustomerAccount(customer_id="cust-1", meta=META)
    noted(account, "o-1", "accepted", "10.00", 3)
    shipped(account, "5.00", 3)
    account.collect_events()
    before = copy.deepcopy(account.__dict__)

    clone = copy.deepcopy(account)
    noted(clone, "o-1", "shipped", "5.00", 3)
    noted(clone, "o-2", "accepted", "4.00", 1)
    shipped(clone, "2.00", 1)
    clone.credit += Decimal("1.00")

    assert clone.orders["o-1"]["status"] == "shipped" and len(clone.orders["o-1"]["receivables"]) == 2
    assert clone.ordered_by_week["2026-W48"] == {"P1": 4} and clone.shipped_by_month["2026-11"] == {"P1": 4}
    assert account.__dict__ == before


def test_an_accounts_entries_hold_only_values_the_garbage_collector_stops_tracking() -> None:
    """An account keeps an entry per order the customer ever placed: were they tracked, every full
    collection of the orders service would walk them all (it took ~100 ms a second at saturation)."""
    account = CustomerAccount(customer_id="cust-1", meta=META)
    for order_id in ("o-1", "o-2"):
        noted(account, order_id, "accepted", "10.00", 1)
    shipped(account, "5.00", 1)
    for _ in range(2):  # a pass untracks a tuple once what it holds is untracked: the pairs, then theirs
        gc.collect()
    assert [gc.is_tracked(entry) for entry in account.orders.values()] == [False, False]


def test_plain_copy_keeps_shared_parts_shared_and_immutable_values_as_they_are() -> None:
    shared: dict[str, Any] = {"n": 1}
    when = datetime.now(UTC)
    original = {"a": shared, "b": shared, "colour": Colour.RED, "at": when, "amount": Decimal("1.10")}
    clone = plain_copy(original, {})
    assert clone == original
    assert clone["a"] is clone["b"] and clone["a"] is not shared
    assert clone["colour"] is Colour.RED and clone["at"] is when


def test_plain_copy_hands_anything_else_to_deepcopy() -> None:
    box = Box([1, 2])
    clone = plain_copy({"box": box}, {})["box"]
    clone.items.append(3)
    assert box.items == [1, 2] and isinstance(clone, Box)
