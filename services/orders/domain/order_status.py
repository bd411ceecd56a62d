"""An order's status and what holds it back (O4–O8): the holds' rules, who releases each, the O4 contract
terms."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from services.orders.domain.common import CustomerSnapshot
from shared.aggregate import at_least
from shared.contracts import Role

if TYPE_CHECKING:
    from services.orders.domain.accounts import CustomerAccount


# The holds of an order over its customer's limit (O6 credit, O7 a branch's capital).
LIMIT_RULES = frozenset({"O6", "O7"})
# Who lifts which hold of an order (O5, and O4 for want of a contract, clear only by the event that fixes
# them; an O4 hold on a contract's term is approved by the regional manager, O4 rev 2).
RELEASERS: dict[str, frozenset[Role]] = {
    "O4": at_least(Role.REGIONAL_MANAGER),
    "O6": at_least(Role.SALES_MANAGER),
    "C11": at_least(Role.SALES_MANAGER),
    "O7": frozenset({Role.MARKETING_DIRECTOR}),
    "O8": frozenset({Role.GENERAL_MANAGER}),
}


NO_CONTRACT = "contract"  # the O4 hold's term when there is no valid contract at all


class OrderStatus(StrEnum):
    ACCEPTED = "accepted"
    PENDING_CONTRACT = "pending_contract"
    ON_HOLD = "on_hold"
    SHIPPED = "shipped"
    PAID = "paid"
    CANCELLED = "cancelled"


def status_for(holds: Iterable[Mapping[str, str]]) -> OrderStatus:
    rules = {h["rule"] for h in holds}
    if "O4" in rules:
        return OrderStatus.PENDING_CONTRACT
    return OrderStatus.ON_HOLD if rules else OrderStatus.ACCEPTED


def contract_holds(
    customer: CustomerSnapshot,
    account: CustomerAccount,
    lines: list[dict[str, Any]],
    total: Decimal,
    order_day: date,
    order_id: str | None = None,
) -> list[dict[str, str]]:
    """O4 (rev 2): a distributor's order needs a valid contract, products within its scope and room in its
    remaining annual volume; each breach is a hold naming the term it breaks. ``order_id``: an order
    checked again (its own amount is not counted twice)."""
    if not customer.has_contract_on(order_day):
        message = f"no valid distributor contract on {order_day}"
        return [{"rule": "O4", "term": NO_CONTRACT, "message": message}]
    holds = []
    scope = customer.product_scope
    outside = sorted({line["product_code"] for line in lines} - set(scope)) if scope is not None else []
    if outside:
        holds.append(
            {
                "rule": "O4",
                "term": "product_scope",
                "message": f"{', '.join(outside)} outside the product scope of contract "
                f"{customer.contract_number}",
            }
        )
    if customer.annual_volume is not None:
        start, end = customer.contract_year(order_day)
        used = account.accepted_between(start, end, excluding=order_id)
        if used + total > customer.annual_volume:
            holds.append(
                {
                    "rule": "O4",
                    "term": "annual_volume",
                    "message": f"{used} accepted since {start} + {total} would exceed the contract's "
                    f"annual volume {customer.annual_volume}",
                }
            )
    return holds
