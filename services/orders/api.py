"""Orders routes: NATS subjects in, replies out (``<ns>.orders.cmd.*`` / ``.query.*``)."""

from __future__ import annotations

from typing import NamedTuple

from pydantic import BaseModel

from services.orders import commands as c
from services.orders import results as r
from services.orders.application import OrdersApplication
from services.orders.domain import (
    CASHIERS,
    DEPARTMENT_HEADS,
    ORDER_TAKERS,
    PRICE_SETTERS,
    RELEASERS,
    SALES_ROLES,
    SHIPPERS,
)
from services.orders.domain.returns import CREDITORS, RETURN_APPROVERS
from shared import orders_contract
from shared.aggregate import at_least
from shared.bus import ServiceBus, in_thread
from shared.contracts import Role
from shared.events import declared_events

# The event classes as the aggregates store them, in the order the event contract (``shared.orders_contract``)
# declares them: each is made from its declaration there.
EVENTS = declared_events(orders_contract)

HOLDERS = SALES_ROLES | {Role.BRANCH_MANAGER}  # O9


class Route(NamedTuple):
    model: type[BaseModel]
    result: type[BaseModel]
    roles: frozenset[Role]


# Every command: its request model, its typed result, and who may send it (published as x-roles; the
# domain's checks decide, and tests/unit/test_contract_roles.py checks a sample against them). The handler
# is the application's method of the same name; commands are decided in turn and saved in batches
# (shared/worker.py).
COMMANDS: dict[str, Route] = {
    "list_product": Route(c.ListProduct, r.ProductResult, PRICE_SETTERS),
    "receive_stock": Route(c.ReceiveStock, r.ProductResult, frozenset({Role.PRODUCTION})),
    "request_price_exception": Route(c.RequestPriceException, r.PriceExceptionResult, SALES_ROLES),
    "approve_price_exception": Route(
        c.ApprovePriceException, r.PriceExceptionResult, frozenset({Role.GENERAL_MANAGER})
    ),
    "vote_price_exception": Route(c.VotePriceException, r.PriceExceptionResult, DEPARTMENT_HEADS),
    "place_order": Route(c.PlaceOrder, r.OrderResult, ORDER_TAKERS),
    # each hold by its own releasers (RELEASERS)
    "release_order": Route(c.ReleaseOrder, r.OrderResult, frozenset().union(*RELEASERS.values())),
    "cancel_order": Route(c.CancelOrder, r.OrderResult, at_least(Role.SALES_MANAGER)),
    "ship_order": Route(c.ShipOrder, r.OrderResult, SHIPPERS),
    "record_payment": Route(c.RecordPayment, r.OrderResult, CASHIERS),
    "request_return": Route(c.RequestReturn, r.OrderResult, SALES_ROLES),
    "approve_return": Route(c.ReturnStep, r.OrderResult, RETURN_APPROVERS),
    "reject_return": Route(c.RejectReturn, r.OrderResult, RETURN_APPROVERS),
    "book_return": Route(c.ReturnStep, r.OrderResult, SHIPPERS),
    "ship_replacement": Route(c.ReturnStep, r.OrderResult, SHIPPERS),
    "report_shipment_problem": Route(c.ReportShipmentProblem, r.OrderResult, SALES_ROLES),
    "credit_shipment": Route(c.CorrectShipment, r.OrderResult, CREDITORS),
    "ship_correction": Route(c.CorrectShipment, r.OrderResult, SHIPPERS),
    "accept_delivery": Route(c.AcceptDelivery, r.OrderResult, SALES_ROLES),
    "record_opening_receivable": Route(c.RecordOpeningReceivable, r.OpeningReceivableResult, CASHIERS),
    "record_opening_payment": Route(c.RecordOpeningPayment, r.OpeningReceivableResult, CASHIERS),
    "remind_receivables": Route(c.RemindReceivables, r.Reminders, frozenset({Role.SYSTEM, Role.FINANCE})),
    "reserve_goods": Route(c.ReserveGoods, r.HoldResult, HOLDERS),
    "file_guarantee": Route(c.FileGuarantee, r.HoldResult, frozenset({Role.SALESPERSON})),
    "agree_guarantee": Route(c.DecideGuarantee, r.HoldResult, frozenset({Role.SALES_MANAGER})),
    "approve_guarantee": Route(c.DecideGuarantee, r.HoldResult, frozenset({Role.GENERAL_MANAGER})),
    "convert_reservation": Route(c.ConvertReservation, r.OrderResult, HOLDERS),
    "expire_reservations": Route(
        c.ExpireReservations, r.ExpiredHolds, frozenset({Role.SYSTEM, Role.GENERAL_MANAGER})
    ),
    "compute_reorder_points": Route(
        c.ComputeReorderPoints,
        r.ReorderPointsResult,
        frozenset({Role.MARKETING_DIRECTOR, Role.BRANCH_MANAGER, Role.SYSTEM}),
    ),
    "report_branch_stock": Route(c.ReportBranchStock, r.BranchStockResult, frozenset({Role.BRANCH_MANAGER})),
    "submit_request_list": Route(c.SubmitRequestList, r.RequestListResult, frozenset({Role.BRANCH_MANAGER})),
    "match_request_list": Route(
        c.MatchRequestList, r.RequestListMatch, at_least(Role.SALES_MANAGER) | {Role.SYSTEM}
    ),
}
ROLES = {name: route.roles for name, route in COMMANDS.items()}
# Every query (asked of any reader, answered in a thread): its request model and its typed result.
QUERIES: dict[str, tuple[type[BaseModel], type[BaseModel]]] = {
    "get_order": (c.GetOrder, r.OrderResult),
    "get_product": (c.GetProduct, r.ProductResult),
    "get_reservation": (c.GetReservation, r.HoldResult),
    "get_account": (c.GetAccount, r.AccountResult),
    "get_customer_view": (c.GetCustomerView, r.CustomerViewResult),
}


def register(bus: ServiceBus, app: OrdersApplication) -> None:
    for name, route in COMMANDS.items():
        bus.command(name, route.model, app.commands.handler(getattr(app, name)), route.result)
    for name, (model, result) in QUERIES.items():
        bus.query(name, model, in_thread(getattr(app, name)), result)
    bus.document_roles(ROLES)
    bus.document_events(EVENTS)
