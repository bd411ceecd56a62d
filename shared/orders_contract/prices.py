"""Events of a price exception (O2)."""

from __future__ import annotations

from shared.contracts import DecimalText
from shared.orders_contract.families import OfCustomer


class PriceExceptionEvent(OfCustomer, aggregate="PriceException"):
    """An event of a price exception for one customer and product (O2)."""


class PriceExceptionRequested(PriceExceptionEvent):
    """O2: a price below list asked for one customer and product."""

    CREATED = True
    product_code: str
    unit_price: DecimalText
    list_price: DecimalText
    reduction_pct: DecimalText
    major: bool
    reason: str


class PriceExceptionApproved(PriceExceptionEvent):
    """O2: the general manager approved a price exception."""

    by: str


class PriceExceptionVoted(PriceExceptionEvent):
    """O2: a department head's vote on a major reduction."""

    role: str
    in_favour: bool


class PriceExceptionGranted(PriceExceptionEvent):
    """O2: a price exception in force."""

    product_code: str
    unit_price: DecimalText
