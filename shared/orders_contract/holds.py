"""Events of a hold (O9) and of the book of live holds."""

from __future__ import annotations

from datetime import datetime

from shared.contracts import DecimalText
from shared.orders_contract.families import OfCustomer, OrdersEvent


class ReservationEvent(OfCustomer, aggregate="Reservation"):
    """An event of a hold of goods for a customer (O9)."""


class ReservationRequested(ReservationEvent):
    """O9: goods asked to be held for a customer."""

    CREATED = True
    product_code: str
    quantity: int
    amount: DecimalText
    salesperson_id: str


class GuaranteeFiled(ReservationEvent):
    """O9: an economic guarantee filed by the salesperson."""

    by: str


class GuaranteeAgreed(ReservationEvent):
    """O9: the sales manager agreed the guarantee."""

    by: str


class GuaranteeApproved(ReservationEvent):
    """O9: the general manager approved the guarantee."""

    by: str


class OrderReserved(ReservationEvent):
    """O9: the goods are held until expires_at."""

    product_code: str
    quantity: int
    amount: DecimalText
    expires_at: datetime
    deposit_required: DecimalText


class DepositReceived(ReservationEvent):
    """O9: the hold's deposit received."""

    amount: DecimalText


class ReservationConverted(ReservationEvent):
    """O9: the hold became an order; its deposit pays toward it."""

    order_id: str
    deposit_applied: DecimalText


class ReservationExpired(ReservationEvent):
    """O9: the hold lapsed; its deposit is the customer's credit."""

    deposit_credited: DecimalText


class HoldBookEvent(OrdersEvent, aggregate="HoldBook"):
    """An event of the book of live holds (O9)."""


class HoldBookOpened(HoldBookEvent):
    """The book of live holds opened."""

    CREATED = True


class HoldBookEntered(HoldBookEvent):
    """O9: a live hold and its expiry entered in the book."""

    hold_id: str
    expires_at: datetime


class HoldBookLeft(HoldBookEvent):
    """O9: a hold left the book (converted or expired)."""

    hold_id: str
