"""Events of a hold (O9) and of the book of live holds."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from eventsourcing.domain import AggregateCreated, AggregateEvent

from services.orders.domain.events.customer import CustomerEvent
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


class GuaranteeFiled(CustomerEvent):
    """O9: an economic guarantee filed by the salesperson."""

    TOPIC = "orders.Reservation.GuaranteeFiled"
    by: str
    meta: Meta


class GuaranteeAgreed(CustomerEvent):
    """O9: the sales manager agreed the guarantee."""

    TOPIC = "orders.Reservation.GuaranteeAgreed"
    by: str
    meta: Meta


class GuaranteeApproved(CustomerEvent):
    """O9: the general manager approved the guarantee."""

    TOPIC = "orders.Reservation.GuaranteeApproved"
    by: str
    meta: Meta


class OrderReserved(CustomerEvent):
    """O9: the goods are held until expires_at."""

    TOPIC = "orders.Reservation.OrderReserved"
    product_code: str
    quantity: int
    amount: Decimal
    expires_at: datetime
    deposit_required: Decimal
    meta: Meta


class DepositReceived(CustomerEvent):
    """O9: the hold's deposit received."""

    TOPIC = "orders.Reservation.DepositReceived"
    amount: Decimal
    meta: Meta


class ReservationConverted(CustomerEvent):
    """O9: the hold became an order; its deposit pays toward it."""

    TOPIC = "orders.Reservation.ReservationConverted"
    order_id: str
    deposit_applied: Decimal
    meta: Meta


class ReservationExpired(CustomerEvent):
    """O9: the hold lapsed; its deposit is the customer's credit."""

    TOPIC = "orders.Reservation.ReservationExpired"
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
