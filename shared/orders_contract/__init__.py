"""The orders service's published event contract: every event it stores and publishes, declared once.

Each class is one event: its name (the envelope's ``event_type``, the last token of its subject), its
pinned topic (``orders.<aggregate>.<event>``: how it is stored, so moving or renaming a class never breaks
loading stored events) and its typed fields (the envelope's ``data``, in stored order; the stored event
adds ``meta`` - who, when, why - which becomes the envelope's actor, correlation and causation). The
aggregates store the classes made from these models (``services/orders/domain/events.py``), the AsyncAPI
document is derived from them (their fields are each event's ``data``, their docstrings its
description), and the services that read the orders stream refer to them. A changed event gets a
``VERSION`` and what it ``ADDED`` here. One module per aggregate family, as in ``services/orders/domain/``.
"""

from __future__ import annotations

import sys

from shared.events import Decoder, contract_events
from shared.orders_contract.accounts import (
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
from shared.orders_contract.families import OrdersEvent
from shared.orders_contract.holds import (
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
from shared.orders_contract.orders import (
    CreditApplied,
    OrderCancelled,
    OrderHeld,
    OrderPlaced,
    OrderReleased,
    OrderShipped,
    OverLimitApproved,
    PaymentReceived,
)
from shared.orders_contract.prices import (
    PriceExceptionApproved,
    PriceExceptionGranted,
    PriceExceptionRequested,
    PriceExceptionVoted,
)
from shared.orders_contract.products import (
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
from shared.orders_contract.receivables import (
    DueBookEntered,
    DueBookLeft,
    DueBookOpened,
    DueBookReminded,
)
from shared.orders_contract.request_lists import (
    RequestListMatched,
    RequestListSubmitted,
)
from shared.orders_contract.returns import (
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

# For the services that follow the orders stream and handle few of its events (the department feeds).
decode = Decoder(OrdersEvent.SERVICE, contract_events(sys.modules[__name__]))

__all__ = [
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
    "decode",
]
