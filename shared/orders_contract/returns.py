"""Events of an order's returns (O15), corrections, deliveries and completion (O16)."""

from __future__ import annotations

from datetime import date
from typing import Any

from shared.contracts import DecimalText
from shared.orders_contract.orders import OrderEvent


class ReturnRequested(OrderEvent):
    """O15: a return (or exchange) of shipped units asked for."""

    return_id: str
    reason: str
    complaint_id: str | None
    exchange: bool
    lines: list[dict[str, Any]]
    amount: DecimalText


class ReturnApproved(OrderEvent):
    """O15: a return approved."""

    return_id: str


class ReturnRejected(OrderEvent):
    """O15: a return rejected, with the reason."""

    return_id: str
    reason: str


class ReturnBooked(OrderEvent):
    """O15: the returned goods are back in stock."""

    return_id: str
    reason: str
    exchange: bool
    lines: list[dict[str, Any]]
    amount: DecimalText
    returned_on: date


class ReplacementShipped(OrderEvent):
    """O15: an exchange's replacement shipped."""

    return_id: str
    lines: list[dict[str, Any]]


class CreditNoteIssued(OrderEvent):
    """O15/O16: a credit note on a return or a correction; to_credit goes to the customer's credit."""

    credit_note_id: str
    source: str
    source_id: str
    lines: list[dict[str, Any]]
    amount: DecimalText
    to_receivable: DecimalText
    to_credit: DecimalText
    issued_on: date


class ShipmentProblemReported(OrderEvent):
    """O16: a short or wrong shipment reported."""

    correction_id: str
    shipment_id: str
    problem: str
    lines: list[dict[str, Any]]


class CorrectionShipped(OrderEvent):
    """O16: the missing or right goods shipped under the order's invoice."""

    correction_id: str
    lines: list[dict[str, Any]]


class DeliveryAccepted(OrderEvent):
    """O16: the customer accepted a delivery."""

    shipment_id: str
    accepted_on: date
    accepted_by: str


class OrderCompleted(OrderEvent):
    """O16: every line shipped and every shipment accepted or corrected."""

    completed_on: date
