"""Events of an order's returns (O15), corrections, deliveries and completion (O16)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from services.orders.domain.events.customer import CustomerEvent
from shared.aggregate import Meta


class ReturnRequested(CustomerEvent):
    """O15: a return (or exchange) of shipped units asked for."""

    TOPIC = "orders.Order.ReturnRequested"
    return_id: str
    reason: str
    complaint_id: str | None
    exchange: bool
    lines: list[dict[str, Any]]
    amount: Decimal
    meta: Meta


class ReturnApproved(CustomerEvent):
    """O15: a return approved."""

    TOPIC = "orders.Order.ReturnApproved"
    return_id: str
    meta: Meta


class ReturnRejected(CustomerEvent):
    """O15: a return rejected, with the reason."""

    TOPIC = "orders.Order.ReturnRejected"
    return_id: str
    reason: str
    meta: Meta


class ReturnBooked(CustomerEvent):
    """O15: the returned goods are back in stock."""

    TOPIC = "orders.Order.ReturnBooked"
    return_id: str
    reason: str
    exchange: bool
    lines: list[dict[str, Any]]
    amount: Decimal
    returned_on: date
    meta: Meta


class ReplacementShipped(CustomerEvent):
    """O15: an exchange's replacement shipped."""

    TOPIC = "orders.Order.ReplacementShipped"
    return_id: str
    lines: list[dict[str, Any]]
    meta: Meta


class CreditNoteIssued(CustomerEvent):
    """O15/O16: a credit note on a return or a correction; to_credit goes to the customer's credit."""

    TOPIC = "orders.Order.CreditNoteIssued"
    credit_note_id: str
    source: str
    source_id: str
    lines: list[dict[str, Any]]
    amount: Decimal
    to_receivable: Decimal
    to_credit: Decimal
    issued_on: date
    meta: Meta


class ShipmentProblemReported(CustomerEvent):
    """O16: a short or wrong shipment reported."""

    TOPIC = "orders.Order.ShipmentProblemReported"
    correction_id: str
    shipment_id: str
    problem: str
    lines: list[dict[str, Any]]
    meta: Meta


class CorrectionShipped(CustomerEvent):
    """O16: the missing or right goods shipped under the order's invoice."""

    TOPIC = "orders.Order.CorrectionShipped"
    correction_id: str
    lines: list[dict[str, Any]]
    meta: Meta


class DeliveryAccepted(CustomerEvent):
    """O16: the customer accepted a delivery."""

    TOPIC = "orders.Order.DeliveryAccepted"
    shipment_id: str
    accepted_on: date
    accepted_by: str
    meta: Meta


class OrderCompleted(CustomerEvent):
    """O16: every line shipped and every shipment accepted or corrected."""

    TOPIC = "orders.Order.OrderCompleted"
    completed_on: date
    meta: Meta
