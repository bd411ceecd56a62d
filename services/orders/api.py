"""Orders routes: NATS subjects in, replies out (``<ns>.orders.cmd.*`` / ``.query.*``)."""

from __future__ import annotations

from services.orders import commands as c
from services.orders.application import OrdersApplication
from services.orders.domain import (
    CASHIERS,
    DEPARTMENT_HEADS,
    ORDER_TAKERS,
    PRICE_SETTERS,
    RELEASERS,
    SALES_ROLES,
    SHIPPERS,
    CustomerAccount,
    DueBook,
    HoldBook,
    Order,
    PriceException,
    Product,
    RequestList,
    Reservation,
    events,
)
from services.orders.domain.returns import CREDITORS, RETURN_APPROVERS
from shared.aggregate import at_least
from shared.bus import ServiceBus, in_thread
from shared.contracts import Role
from shared.events import event_classes

# The event classes as the aggregates store them: each subclasses its declaration in the event contract
# (``services.orders.domain.events``), which is what the AsyncAPI document publishes.
EVENTS = event_classes(
    Product, PriceException, Order, CustomerAccount, Reservation, HoldBook, DueBook, RequestList
)

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


def register(bus: ServiceBus, app: OrdersApplication) -> None:
    decided = app.commands.handler  # commands are decided in turn and saved in batches (shared/worker.py)
    bus.command("list_product", c.ListProduct, decided(app.list_product), c.ProductResult)
    bus.command("receive_stock", c.ReceiveStock, decided(app.receive_stock), c.ProductResult)
    exception = c.PriceExceptionResult
    bus.command(
        "request_price_exception", c.RequestPriceException, decided(app.request_price_exception), exception
    )
    bus.command(
        "approve_price_exception", c.ApprovePriceException, decided(app.approve_price_exception), exception
    )
    bus.command("vote_price_exception", c.VotePriceException, decided(app.vote_price_exception), exception)
    bus.command("place_order", c.PlaceOrder, decided(app.place_order), c.OrderResult)
    bus.command("release_order", c.ReleaseOrder, decided(app.release_order), c.OrderResult)
    bus.command("cancel_order", c.CancelOrder, decided(app.cancel_order), c.OrderResult)
    bus.command("ship_order", c.ShipOrder, decided(app.ship_order), c.OrderResult)
    bus.command("record_payment", c.RecordPayment, decided(app.record_payment), c.OrderResult)
    bus.command("request_return", c.RequestReturn, decided(app.request_return), c.OrderResult)
    bus.command("approve_return", c.ReturnStep, decided(app.approve_return), c.OrderResult)
    bus.command("reject_return", c.RejectReturn, decided(app.reject_return), c.OrderResult)
    bus.command("book_return", c.ReturnStep, decided(app.book_return), c.OrderResult)
    bus.command("ship_replacement", c.ReturnStep, decided(app.ship_replacement), c.OrderResult)
    bus.command(
        "report_shipment_problem",
        c.ReportShipmentProblem,
        decided(app.report_shipment_problem),
        c.OrderResult,
    )
    bus.command("credit_shipment", c.CorrectShipment, decided(app.credit_shipment), c.OrderResult)
    bus.command("ship_correction", c.CorrectShipment, decided(app.ship_correction), c.OrderResult)
    bus.command("accept_delivery", c.AcceptDelivery, decided(app.accept_delivery), c.OrderResult)
    bus.command(
        "record_opening_receivable",
        c.RecordOpeningReceivable,
        decided(app.record_opening_receivable),
        c.OpeningReceivableResult,
    )
    bus.command(
        "record_opening_payment",
        c.RecordOpeningPayment,
        decided(app.record_opening_payment),
        c.OpeningReceivableResult,
    )
    bus.command("remind_receivables", c.RemindReceivables, decided(app.remind_receivables), c.Reminders)
    bus.command("reserve_goods", c.ReserveGoods, decided(app.reserve_goods), c.HoldResult)
    bus.command("file_guarantee", c.FileGuarantee, decided(app.file_guarantee), c.HoldResult)
    bus.command("agree_guarantee", c.DecideGuarantee, decided(app.agree_guarantee), c.HoldResult)
    bus.command("approve_guarantee", c.DecideGuarantee, decided(app.approve_guarantee), c.HoldResult)
    bus.command("convert_reservation", c.ConvertReservation, decided(app.convert_reservation), c.OrderResult)
    bus.command("expire_reservations", c.ExpireReservations, decided(app.expire_reservations), c.ExpiredHolds)
    bus.command(
        "compute_reorder_points",
        c.ComputeReorderPoints,
        decided(app.compute_reorder_points),
        c.ReorderPointsResult,
    )
    bus.command(
        "report_branch_stock", c.ReportBranchStock, decided(app.report_branch_stock), c.BranchStockResult
    )
    bus.command(
        "submit_request_list", c.SubmitRequestList, decided(app.submit_request_list), c.RequestListResult
    )
    bus.command("match_request_list", c.MatchRequestList, decided(app.match_request_list), c.RequestListMatch)
    bus.query("get_order", c.GetOrder, in_thread(app.get_order), c.OrderResult)
    bus.query("get_product", c.GetProduct, in_thread(app.get_product), c.ProductResult)
    bus.query("get_reservation", c.GetReservation, in_thread(app.get_reservation), c.HoldResult)
    bus.query("get_account", c.GetAccount, in_thread(app.get_account), c.AccountResult)
    bus.query("get_customer_view", c.GetCustomerView, in_thread(app.get_customer_view), c.CustomerViewResult)
    bus.document_roles(ROLES)
    bus.document_events(events.EVENTS)
