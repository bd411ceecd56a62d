"""Orders routes: NATS subjects in, replies out (``<ns>.orders.cmd.*`` / ``.query.*``)."""

from __future__ import annotations

from services.orders import commands as c
from services.orders.application import OrdersApplication
from services.orders.domain import (
    CustomerAccount,
    HoldBook,
    Order,
    PriceException,
    Product,
    RequestList,
    Reservation,
)
from shared.bus import ServiceBus, in_thread
from shared.events import event_classes

EVENTS = event_classes(Product, PriceException, Order, CustomerAccount, Reservation, HoldBook, RequestList)


def register(bus: ServiceBus, app: OrdersApplication) -> None:
    bus.command("list_product", c.ListProduct, in_thread(app.list_product), c.Result)
    bus.command("receive_stock", c.ReceiveStock, in_thread(app.receive_stock), c.Result)
    bus.command(
        "request_price_exception", c.RequestPriceException, in_thread(app.request_price_exception), c.Result
    )
    bus.command(
        "approve_price_exception", c.ApprovePriceException, in_thread(app.approve_price_exception), c.Result
    )
    bus.command("vote_price_exception", c.VotePriceException, in_thread(app.vote_price_exception), c.Result)
    bus.command("place_order", c.PlaceOrder, in_thread(app.place_order), c.Result)
    bus.command("release_order", c.ReleaseOrder, in_thread(app.release_order), c.Result)
    bus.command("cancel_order", c.CancelOrder, in_thread(app.cancel_order), c.Result)
    bus.command("ship_order", c.ShipOrder, in_thread(app.ship_order), c.Result)
    bus.command("record_payment", c.RecordPayment, in_thread(app.record_payment), c.Result)
    bus.command("reserve_goods", c.ReserveGoods, in_thread(app.reserve_goods), c.Result)
    bus.command("file_guarantee", c.FileGuarantee, in_thread(app.file_guarantee), c.Result)
    bus.command("agree_guarantee", c.DecideGuarantee, in_thread(app.agree_guarantee), c.Result)
    bus.command("approve_guarantee", c.DecideGuarantee, in_thread(app.approve_guarantee), c.Result)
    bus.command("convert_reservation", c.ConvertReservation, in_thread(app.convert_reservation), c.Result)
    bus.command("expire_reservations", c.ExpireReservations, in_thread(app.expire_reservations))
    bus.command(
        "compute_reorder_points", c.ComputeReorderPoints, in_thread(app.compute_reorder_points), c.Result
    )
    bus.command("report_branch_stock", c.ReportBranchStock, in_thread(app.report_branch_stock), c.Result)
    bus.command("submit_request_list", c.SubmitRequestList, in_thread(app.submit_request_list), c.Result)
    bus.command("match_request_list", c.MatchRequestList, in_thread(app.match_request_list), c.Result)
    bus.query("get_order", c.GetOrder, in_thread(app.get_order), c.Result)
    bus.query("get_product", c.GetProduct, in_thread(app.get_product), c.Result)
    bus.query("get_reservation", c.GetReservation, in_thread(app.get_reservation), c.Result)
    bus.query("get_account", c.GetAccount, in_thread(app.get_account), c.Result)
    bus.query("get_customer_view", c.GetCustomerView, in_thread(app.get_customer_view), c.Result)
    bus.document_events(EVENTS)
