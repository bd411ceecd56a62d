"""The orders service's published event contract: every event it stores and publishes, declared once.

Each class is one event: its name (the envelope's ``event_type``, the last token of its subject), its
pinned topic (how it is stored: moving or renaming a class never breaks loading stored events) and its
typed fields (the envelope's ``data``, in stored order; ``meta`` - who, when, why - becomes the
envelope's actor, correlation and causation). The aggregates name these classes (``@event(ProductRelisted)``
on the method that applies it) and trigger them; the AsyncAPI document is derived from them (``EVENTS``:
their fields are each event's ``data``, their docstrings its description). A changed event gets a
``class_version`` and an upcaster here. One module per aggregate family, as in ``domain/``.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import CanMutateAggregate

from services.orders.domain.events.accounts import (
    AccountContractNoted,
    AccountOrderNoted,
    CustomerAccountOpened,
    CustomerCreditAdded,
    CustomerCreditRefunded,
    CustomerCreditReturned,
    CustomerCreditUsed,
    OpeningReceivablePaid,
    OpeningReceivableRecorded,
    ReceivableDueSoon,
    ReceivableOverdue,
    ReceivableRaised,
    ReceivableReminder,
    ReorderAlertRaised,
    ReorderPointsComputed,
)
from services.orders.domain.events.holds import (
    DepositReceived,
    GuaranteeAgreed,
    GuaranteeApproved,
    GuaranteeFiled,
    HoldBookEntered,
    HoldBookLeft,
    HoldBookOpened,
    OrderReserved,
    ReservationConverted,
    ReservationExpired,
    ReservationRequested,
)
from services.orders.domain.events.orders import (
    CreditApplied,
    OrderCancelled,
    OrderHeld,
    OrderPlaced,
    OrderReleased,
    OrderShipped,
    OverLimitApproved,
    PaymentReceived,
)
from services.orders.domain.events.prices import (
    PriceExceptionApproved,
    PriceExceptionGranted,
    PriceExceptionRequested,
    PriceExceptionVoted,
)
from services.orders.domain.events.products import (
    ProductionRequested,
    ProductListed,
    ProductListing,
    ProductRelisted,
    StockAllocated,
    StockReceived,
    StockReleased,
    StockReturned,
    StockShipped,
    StockTransferred,
)
from services.orders.domain.events.receivables import (
    DueBookEntered,
    DueBookLeft,
    DueBookOpened,
    DueBookReminded,
)
from services.orders.domain.events.request_lists import (
    RequestListMatched,
    RequestListSubmitted,
)
from services.orders.domain.events.returns import (
    CorrectionShipped,
    CreditNoteIssued,
    DeliveryAccepted,
    OrderCompleted,
    ReplacementShipped,
    ReturnApproved,
    ReturnBooked,
    ReturnRejected,
    ReturnRequested,
    ShipmentProblemReported,
)

# Every event of the contract: the classes above with a pinned topic (not the bases whose fields they share).
EVENTS: list[type[CanMutateAggregate[Any]]] = [
    value for value in list(globals().values()) if isinstance(value, type) and "TOPIC" in vars(value)
]

__all__ = [
    "EVENTS",
    "AccountContractNoted",
    "AccountOrderNoted",
    "CorrectionShipped",
    "CreditApplied",
    "CreditNoteIssued",
    "CustomerAccountOpened",
    "CustomerCreditAdded",
    "CustomerCreditRefunded",
    "CustomerCreditReturned",
    "CustomerCreditUsed",
    "DeliveryAccepted",
    "DepositReceived",
    "DueBookEntered",
    "DueBookLeft",
    "DueBookOpened",
    "DueBookReminded",
    "GuaranteeAgreed",
    "GuaranteeApproved",
    "GuaranteeFiled",
    "HoldBookEntered",
    "HoldBookLeft",
    "HoldBookOpened",
    "OpeningReceivablePaid",
    "OpeningReceivableRecorded",
    "OrderCancelled",
    "OrderCompleted",
    "OrderHeld",
    "OrderPlaced",
    "OrderReleased",
    "OrderReserved",
    "OrderShipped",
    "OverLimitApproved",
    "PaymentReceived",
    "PriceExceptionApproved",
    "PriceExceptionGranted",
    "PriceExceptionRequested",
    "PriceExceptionVoted",
    "ProductListed",
    "ProductListing",
    "ProductRelisted",
    "ProductionRequested",
    "ReceivableDueSoon",
    "ReceivableOverdue",
    "ReceivableRaised",
    "ReceivableReminder",
    "ReorderAlertRaised",
    "ReorderPointsComputed",
    "ReplacementShipped",
    "RequestListMatched",
    "RequestListSubmitted",
    "ReservationConverted",
    "ReservationExpired",
    "ReservationRequested",
    "ReturnApproved",
    "ReturnBooked",
    "ReturnRejected",
    "ReturnRequested",
    "ShipmentProblemReported",
    "StockAllocated",
    "StockReceived",
    "StockReleased",
    "StockReturned",
    "StockShipped",
    "StockTransferred",
]
