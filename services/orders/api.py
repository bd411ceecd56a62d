"""Orders routes: NATS subjects in, replies out (``<ns>.orders.cmd.*`` / ``.query.*``)."""

from __future__ import annotations

from pydantic import BaseModel

from services.orders import commands as c
from services.orders import results as r
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
    "list_product": (c.ListProduct, r.ProductResult),
    "receive_stock": (c.ReceiveStock, r.ProductResult),
    "request_price_exception": (c.RequestPriceException, r.PriceExceptionResult),
    "approve_price_exception": (c.ApprovePriceException, r.PriceExceptionResult),
    "vote_price_exception": (c.VotePriceException, r.PriceExceptionResult),
    "place_order": (c.PlaceOrder, r.OrderResult),
    "release_order": (c.ReleaseOrder, r.OrderResult),
    "cancel_order": (c.CancelOrder, r.OrderResult),
    "ship_order": (c.ShipOrder, r.OrderResult),
    "record_payment": (c.RecordPayment, r.OrderResult),
    "request_return": (c.RequestReturn, r.OrderResult),
    "approve_return": (c.ReturnStep, r.OrderResult),
    "reject_return": (c.RejectReturn, r.OrderResult),
    "book_return": (c.ReturnStep, r.OrderResult),
    "ship_replacement": (c.ReturnStep, r.OrderResult),
    "report_shipment_problem": (c.ReportShipmentProblem, r.OrderResult),
    "credit_shipment": (c.CorrectShipment, r.OrderResult),
    "ship_correction": (c.CorrectShipment, r.OrderResult),
    "accept_delivery": (c.AcceptDelivery, r.OrderResult),
    "record_opening_receivable": (c.RecordOpeningReceivable, r.OpeningReceivableResult),
    "record_opening_payment": (c.RecordOpeningPayment, r.OpeningReceivableResult),
    "remind_receivables": (c.RemindReceivables, r.Reminders),
    "reserve_goods": (c.ReserveGoods, r.HoldResult),
    "file_guarantee": (c.FileGuarantee, r.HoldResult),
    "agree_guarantee": (c.DecideGuarantee, r.HoldResult),
    "approve_guarantee": (c.DecideGuarantee, r.HoldResult),
    "convert_reservation": (c.ConvertReservation, r.OrderResult),
    "expire_reservations": (c.ExpireReservations, r.ExpiredHolds),
    "compute_reorder_points": (c.ComputeReorderPoints, r.ReorderPointsResult),
    "report_branch_stock": (c.ReportBranchStock, r.BranchStockResult),
    "submit_request_list": (c.SubmitRequestList, r.RequestListResult),
    "match_request_list": (c.MatchRequestList, r.RequestListMatch),
}
QUERIES: dict[str, tuple[type[BaseModel], type[BaseModel]]] = {
    "get_order": (c.GetOrder, r.OrderResult),
    "get_product": (c.GetProduct, r.ProductResult),
    "get_reservation": (c.GetReservation, r.HoldResult),
    "get_account": (c.GetAccount, r.AccountResult),
    "get_customer_view": (c.GetCustomerView, r.CustomerViewResult),
}


def register(bus: ServiceBus, app: OrdersApplication) -> None:
    for name, (model, result) in COMMANDS.items():
        bus.command(name, model, app.commands.handler(getattr(app, name)), result)
    for name, (model, result) in QUERIES.items():
        bus.query(name, model, in_thread(getattr(app, name)), result)
    bus.document_roles(ROLES)
    bus.document_events(events.EVENTS)
