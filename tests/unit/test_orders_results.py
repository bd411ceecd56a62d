"""Every orders command and query answers what its published result model says: an orders flow on the
in-memory store, each answer checked against the model its route names (no field missing, none unknown)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from services.orders import commands as c
from services.orders.api import register
from shared.bus import ServiceBus
from shared.settings import Settings
from tests.unit.orders_kit import FINANCE, GM, PRODUCTION, SALES, Fixture


def check(results: dict[str, type], name: str, answer: dict[str, Any]) -> None:
    model = results[name]
    model.model_validate(answer)  # type: ignore[attr-defined]
    assert set(answer) <= set(model.model_fields), (name, set(answer) - set(model.model_fields))  # type: ignore[attr-defined]


def test_every_orders_answer_matches_its_published_result_model() -> None:
    fx = Fixture()
    bus = ServiceBus(Settings(), "orders")
    register(bus, fx.app)
    results = {route.name: route.result for route in bus.routes.values() if route.result is not None}
    answered: set[str] = set()

    def answers(name: str, answer: dict[str, Any]) -> dict[str, Any]:
        check(results, name, answer)
        answered.add(name)
        return answer

    app = fx.app
    dealer = fx.dealer()
    product = answers("list_product", fx.list_product("PV-1"))["product_code"]
    answers(
        "receive_stock",
        app.receive_stock(c.ReceiveStock(actor=PRODUCTION, product_code=product, quantity=50)),
    )
    exception = answers(
        "request_price_exception",
        app.request_price_exception(
            c.RequestPriceException(
                actor=SALES,
                customer_id=dealer,
                product_code=product,
                unit_price=Decimal("95"),
                reason="volume",
            )
        ),
    )
    answers(
        "approve_price_exception",
        app.approve_price_exception(c.ApprovePriceException(actor=GM, exception_id=exception["id"])),
    )
    line = c.OrderLine(product_code=product, quantity=2)
    order = answers(
        "place_order",
        app.place_order(c.PlaceOrder(actor=SALES, customer_id=dealer, channel="phone", lines=[line])),
    )
    shipped = c.ShipLine(product_code=product, quantity=2)
    answers(
        "ship_order", app.ship_order(c.ShipOrder(actor=PRODUCTION, order_id=order["id"], lines=[shipped]))
    )
    answers(
        "record_payment",
        app.record_payment(c.RecordPayment(actor=FINANCE, order_id=order["id"], amount=Decimal("200"))),
    )
    hold = answers(
        "reserve_goods",
        app.reserve_goods(
            c.ReserveGoods(
                actor=SALES, customer_id=dealer, product_code=product, quantity=2, deposit=Decimal("20")
            )
        ),
    )
    answers("get_reservation", app.get_reservation(c.GetReservation(reservation_id=hold["id"])))
    answers(
        "convert_reservation",
        app.convert_reservation(c.ConvertReservation(actor=SALES, reservation_id=hold["id"])),
    )
    another = app.place_order(c.PlaceOrder(actor=SALES, customer_id=dealer, channel="fax", lines=[line]))
    answers(
        "cancel_order", app.cancel_order(c.CancelOrder(actor=GM, order_id=another["id"], reason="duplicate"))
    )
    answers("get_order", app.get_order(c.GetOrder(order_id=order["id"])))
    answers("get_product", app.get_product(c.GetProduct(product_code=product)))
    answers("get_account", app.get_account(c.GetAccount(customer_id=dealer)))
    answers("get_customer_view", app.get_customer_view(c.GetCustomerView(customer_id=dealer)))
    fx.clock.advance(timedelta(hours=72))
    answers("expire_reservations", app.expire_reservations(c.ExpireReservations(actor=GM)))
    assert answered <= set(results)
