"""The copy every command gets of a cached aggregate (``SalesAggregate.__deepcopy__``): as independent
of the cached one as ``copy.deepcopy`` makes it, so a command that changes its copy and is then
refused leaves the cache as it was."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from services.orders.domain import CustomerAccount
from shared.aggregate import plain_copy
from tests.tally import META


class Colour(Enum):
    RED = "red"


@dataclass
class Box:
    items: list[int]


def test_changing_the_copy_of_an_account_leaves_the_cached_account_as_it_was() -> None:
    account = CustomerAccount(customer_id="cust-1", meta=META)
    account.collect_events()
    account.orders["o-1"] = {
        "status": "accepted",
        "open": Decimal("10.00"),
        "receivables": [[Decimal("5"), date.today()]],
    }
    account.ordered_by_week["2026-W48"] = {"P1": 3}
    before = copy.deepcopy(account.__dict__)  # stdlib: built by the library's own rules

    clone = copy.deepcopy(account)
    clone.orders["o-1"]["status"] = "cancelled"
    clone.orders["o-1"]["receivables"][0][0] = Decimal("0")
    clone.orders["o-2"] = {}
    clone.ordered_by_week["2026-W48"]["P1"] = 99
    clone.credit += Decimal("1.00")

    assert type(clone) is CustomerAccount and clone.id == account.id and clone.version == account.version
    assert account.__dict__ == before


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
