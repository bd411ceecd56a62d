"""Orders routes: NATS subjects in, replies out (``<ns>.orders.cmd.*`` / ``.query.*``)."""

from __future__ import annotations

from pydantic import BaseModel

from services.orders import commands as c
from services.orders.application import OrdersApplication
from services.orders.domain import (
    AGGREGATES,
    CASHIERS,
    DEPARTMENT_HEADS,
    ORDER_TAKERS,
    PRICE_SETTERS,
    RELEASERS,
    SALES_ROLES,
    SHIPPERS,
    events,
)
from services.orders.domain.returns import CREDITORS, RETURN_APPROVERS
from shared.aggregate import at_least
from shared.bus import ServiceBus, in_thread
from shared.contracts import Role
from shared.events import event_classes

# The event classes as the aggregates store them: each subclasses its declaration in the event contract
# (``services.orders.domain.events``), which is what the AsyncAPI document publishes.
EVENTS = event_classes(*AGGREGATES)

HOLDERS = SALES_ROLES | {Role.BRANCH_MANAGER}  # O9
# Who may send each command, published in the contract (x-roles); the domain's checks decide, and
# tests/unit/test_contract_roles.py checks a sample against them.
ROLES: dict[str, frozenset[Role]] = {
    "list_product": PRICE_SETTERS,
    "receive_stock": frozenset({Role.PRODUCTION}),
    "request_price_exception": SALES_ROLES,
    "approve_price_exception": frozenset({Role.GENERAL_MANAGER}),
    "vote_price_exception": DEPARTMENT_HEADS,
    "place_order": ORDER_TAKERS,
    "release_order": frozenset().union(*RELEASERS.values()),  # each hold by its own releasers
    "cancel_order": at_least(Role.SALES_MANAGER),
    "ship_order": SHIPPERS,
    "record_payment": CASHIERS,
    "record_opening_receivable": CASHIERS,
    "record_opening_payment": CASHIERS,
    "remind_receivables": frozenset({Role.SYSTEM, Role.FINANCE}),
    "request_return": SALES_ROLES,
    "approve_return": RETURN_APPROVERS,
    "reject_return": RETURN_APPROVERS,
    "book_return": SHIPPERS,
    "ship_replacement": SHIPPERS,
    "report_shipment_problem": SALES_ROLES,
    "credit_shipment": CREDITORS,
    "ship_correction": SHIPPERS,
    "accept_delivery": SALES_ROLES,
    "reserve_goods": HOLDERS,
    "file_guarantee": frozenset({Role.SALESPERSON}),
    "agree_guarantee": frozenset({Role.SALES_MANAGER}),
    "approve_guarantee": frozenset({Role.GENERAL_MANAGER}),
    "convert_reservation": HOLDERS,
    "expire_reservations": frozenset({Role.SYSTEM, Role.GENERAL_MANAGER}),
    "compute_reorder_points": frozenset({Role.MARKETING_DIRECTOR, Role.BRANCH_MANAGER, Role.SYSTEM}),
    "report_branch_stock": frozenset({Role.BRANCH_MANAGER}),
    "submit_request_list": frozenset({Role.BRANCH_MANAGER}),
    "match_request_list": at_least(Role.SALES_MANAGER) | {Role.SYSTEM},
}


# Every command and query: its request model and its typed result; the handler is the application's method
# of the same name (commands are decided in turn and saved in batches, shared/worker.py; queries run in a
# thread).
COMMANDS: dict[str, tuple[type[BaseModel], type[BaseModel]]] = {
    "list_product": (c.ListProduct, c.ProductResult),
    "receive_stock": (c.ReceiveStock, c.ProductResult),
    "request_price_exception": (c.RequestPriceException, c.PriceExceptionResult),
    "approve_price_exception": (c.ApprovePriceException, c.PriceExceptionResult),
    "vote_price_exception": (c.VotePriceException, c.PriceExceptionResult),
    "place_order": (c.PlaceOrder, c.OrderResult),
    "release_order": (c.ReleaseOrder, c.OrderResult),
    "cancel_order": (c.CancelOrder, c.OrderResult),
    "ship_order": (c.ShipOrder, c.OrderResult),
    "record_payment": (c.RecordPayment, c.OrderResult),
    "request_return": (c.RequestReturn, c.OrderResult),
    "approve_return": (c.ReturnStep, c.OrderResult),
    "reject_return": (c.RejectReturn, c.OrderResult),
    "book_return": (c.ReturnStep, c.OrderResult),
    "ship_replacement": (c.ReturnStep, c.OrderResult),
    "report_shipment_problem": (c.ReportShipmentProblem, c.OrderResult),
    "credit_shipment": (c.CorrectShipment, c.OrderResult),
    "ship_correction": (c.CorrectShipment, c.OrderResult),
    "accept_delivery": (c.AcceptDelivery, c.OrderResult),
    "record_opening_receivable": (c.RecordOpeningReceivable, c.OpeningReceivableResult),
    "record_opening_payment": (c.RecordOpeningPayment, c.OpeningReceivableResult),
    "remind_receivables": (c.RemindReceivables, c.Reminders),
    "reserve_goods": (c.ReserveGoods, c.HoldResult),
    "file_guarantee": (c.FileGuarantee, c.HoldResult),
    "agree_guarantee": (c.DecideGuarantee, c.HoldResult),
    "approve_guarantee": (c.DecideGuarantee, c.HoldResult),
    "convert_reservation": (c.ConvertReservation, c.OrderResult),
    "expire_reservations": (c.ExpireReservations, c.ExpiredHolds),
    "compute_reorder_points": (c.ComputeReorderPoints, c.ReorderPointsResult),
    "report_branch_stock": (c.ReportBranchStock, c.BranchStockResult),
    "submit_request_list": (c.SubmitRequestList, c.RequestListResult),
    "match_request_list": (c.MatchRequestList, c.RequestListMatch),
}
QUERIES: dict[str, tuple[type[BaseModel], type[BaseModel]]] = {
    "get_order": (c.GetOrder, c.OrderResult),
    "get_product": (c.GetProduct, c.ProductResult),
    "get_reservation": (c.GetReservation, c.HoldResult),
    "get_account": (c.GetAccount, c.AccountResult),
    "get_customer_view": (c.GetCustomerView, c.CustomerViewResult),
}


def register(bus: ServiceBus, app: OrdersApplication) -> None:
    for name, (model, result) in COMMANDS.items():
        bus.command(name, model, app.commands.handler(getattr(app, name)), result)
    for name, (model, result) in QUERIES.items():
        bus.query(name, model, in_thread(getattr(app, name)), result)
    bus.document_roles(ROLES)
    bus.document_events(events.EVENTS)
