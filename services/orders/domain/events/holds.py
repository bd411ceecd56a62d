"""Events of a hold (O9) and of the book of live holds."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from eventsourcing.domain import AggregateCreated, AggregateEvent

from shared.aggregate import Meta


class ReservationRequested(AggregateCreated):
    """O9: goods asked to be held for a customer."""

    TOPIC = "orders.Reservation.ReservationRequested"
    customer_id: str
    product_code: str
    quantity: int
    amount: Decimal
    salesperson_id: str
    meta: Meta


class GuaranteeFiled(AggregateEvent):
    """O9: an economic guarantee filed by the salesperson."""

    TOPIC = "orders.Reservation.GuaranteeFiled"
    customer_id: str
    by: str
    meta: Meta


class GuaranteeAgreed(AggregateEvent):
    """O9: the sales manager agreed the guarantee."""

    TOPIC = "orders.Reservation.GuaranteeAgreed"
    customer_id: str
    by: str
    meta: Meta


class GuaranteeApproved(AggregateEvent):
    """O9: the general manager approved the guarantee."""

    TOPIC = "orders.Reservation.GuaranteeApproved"
    customer_id: str
    by: str
    meta: Meta


class OrderReserved(AggregateEvent):
    """O9: the goods are held until expires_at."""

    TOPIC = "orders.Reservation.OrderReserved"
    customer_id: str
    product_code: str
    quantity: int
    amount: Decimal
    expires_at: datetime
    deposit_required: Decimal
    meta: Meta


class DepositReceived(AggregateEvent):
    """O9: the hold's deposit received."""

    TOPIC = "orders.Reservation.DepositReceived"
    customer_id: str
    amount: Decimal
    meta: Meta


class ReservationConverted(AggregateEvent):
    """O9: the hold became an order; its deposit pays toward it."""

    TOPIC = "orders.Reservation.ReservationConverted"
    customer_id: str
    order_id: str
    deposit_applied: Decimal
    meta: Meta


class ReservationExpired(AggregateEvent):
    """O9: the hold lapsed; its deposit is the customer's credit."""

    TOPIC = "orders.Reservation.ReservationExpired"
    customer_id: str
    deposit_credited: Decimal
    meta: Meta


class HoldBookOpened(AggregateCreated):
    """The book of live holds opened."""

    TOPIC = "orders.HoldBook.HoldBookOpened"
    meta: Meta


class HoldBookEntered(AggregateEvent):
    """O9: a live hold and its expiry entered in the book."""

    TOPIC = "orders.HoldBook.HoldBookEntered"
    hold_id: str
    expires_at: datetime
    meta: Meta


class HoldBookLeft(AggregateEvent):
    """O9: a hold left the book (converted or expired)."""

    TOPIC = "orders.HoldBook.HoldBookLeft"
    hold_id: str
    meta: Meta
