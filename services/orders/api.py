"""Orders routes: NATS subjects in, replies out (``<ns>.orders.cmd.*`` / ``.query.*``)."""

from __future__ import annotations

from services.orders import commands as c
from services.orders.application import OrdersApplication
from services.orders.domain import (
    CustomerAccount,
    DueBook,
    HoldBook,
    Order,
    PriceException,
    Product,
    RequestList,
    Reservation,
)
from shared.bus import ServiceBus, in_thread
from shared.events import event_classes

EVENTS = event_classes(
    Product, PriceException, Order, CustomerAccount, Reservation, HoldBook, DueBook, RequestList
)


def register(bus: ServiceBus, app: OrdersApplication) -> None:
    decided = app.commands.handler  # commands are decided in turn and saved in batches (shared/worker.py)
    bus.command("list_product", c.ListProduct, decided(app.list_product), c.Result)
    bus.command("receive_stock", c.ReceiveStock, decided(app.receive_stock), c.Result)
    bus.command(
        "request_price_exception", c.RequestPriceException, decided(app.request_price_exception), c.Result
    )
    bus.command(
        "approve_price_exception", c.ApprovePriceException, decided(app.approve_price_exception), c.Result
    )
    bus.command("vote_price_exception", c.VotePriceException, decided(app.vote_price_exception), c.Result)
    bus.command("place_order", c.PlaceOrder, decided(app.place_order), c.Result)
    bus.command("release_order", c.ReleaseOrder, decided(app.release_order), c.Result)
    bus.command("cancel_order", c.CancelOrder, decided(app.cancel_order), c.Result)
    bus.command("ship_order", c.ShipOrder, decided(app.ship_order), c.Result)
    bus.command("record_payment", c.RecordPayment, decided(app.record_payment), c.Result)
    bus.command("request_return", c.RequestReturn, decided(app.request_return), c.Result)
    bus.command("approve_return", c.ReturnStep, decided(app.approve_return), c.Result)
    bus.command("reject_return", c.RejectReturn, decided(app.reject_return), c.Result)
    bus.command("book_return", c.ReturnStep, decided(app.book_return), c.Result)
    bus.command("ship_replacement", c.ReturnStep, decided(app.ship_replacement), c.Result)
    bus.command(
        "report_shipment_problem", c.ReportShipmentProblem, decided(app.report_shipment_problem), c.Result
    )
    bus.command("credit_shipment", c.CorrectShipment, decided(app.credit_shipment), c.Result)
    bus.command("ship_correction", c.CorrectShipment, decided(app.ship_correction), c.Result)
    bus.command("accept_delivery", c.AcceptDelivery, decided(app.accept_delivery), c.Result)
    bus.command(
        "record_opening_receivable",
        c.RecordOpeningReceivable,
        decided(app.record_opening_receivable),
        c.Result,
    )
    bus.command(
        "record_opening_payment", c.RecordOpeningPayment, decided(app.record_opening_payment), c.Result
    )
    bus.command("remind_receivables", c.RemindReceivables, decided(app.remind_receivables))
    bus.command("reserve_goods", c.ReserveGoods, decided(app.reserve_goods), c.Result)
    bus.command("file_guarantee", c.FileGuarantee, decided(app.file_guarantee), c.Result)
    bus.command("agree_guarantee", c.DecideGuarantee, decided(app.agree_guarantee), c.Result)
    bus.command("approve_guarantee", c.DecideGuarantee, decided(app.approve_guarantee), c.Result)
    bus.command("convert_reservation", c.ConvertReservation, decided(app.convert_reservation), c.Result)
    bus.command("expire_reservations", c.ExpireReservations, decided(app.expire_reservations))
    bus.command(
        "compute_reorder_points", c.ComputeReorderPoints, decided(app.compute_reorder_points), c.Result
    )
    bus.command("report_branch_stock", c.ReportBranchStock, decided(app.report_branch_stock), c.Result)
    bus.command("submit_request_list", c.SubmitRequestList, decided(app.submit_request_list), c.Result)
    bus.command("match_request_list", c.MatchRequestList, decided(app.match_request_list), c.Result)
    bus.query("get_order", c.GetOrder, in_thread(app.get_order), c.Result)
    bus.query("get_product", c.GetProduct, in_thread(app.get_product), c.Result)
    bus.query("get_reservation", c.GetReservation, in_thread(app.get_reservation), c.Result)
    bus.query("get_account", c.GetAccount, in_thread(app.get_account), c.Result)
    bus.query("get_customer_view", c.GetCustomerView, in_thread(app.get_customer_view), c.Result)
    bus.document_events(EVENTS)
