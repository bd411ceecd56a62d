"""The orders service's unit-test kit (not a test module): the application on the in-memory store with an
in-memory customer view and a fixed clock, the customers it knows, and the orders the tests place."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from services.orders import commands as c
from services.orders.application import OrdersApplication
from services.orders.customer_view import InMemoryCustomerDirectory
from shared.clock import FixedClock
from shared.contracts import Actor, Envelope, Role
from shared.settings import Settings
from tests.builders import customer_event

START = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
SALES = Actor(id="sp-1", role=Role.SALESPERSON)
GM = Actor(id="gm-1", role=Role.GENERAL_MANAGER)
PRODUCTION = Actor(id="prod-1", role=Role.PRODUCTION)
FINANCE = Actor(id="fin-1", role=Role.FINANCE)


def envelope(customer_id: str, version: int, event_type: str, data: dict[str, Any]) -> Envelope:
    return customer_event(customer_id, version, event_type, data, occurred_at=START)


def customer_events(customer_id: str, kind: str = "dealer", credit_limit: str = "1000.00") -> list[Envelope]:
    return [
        envelope(
            customer_id, 1, "CustomerRegistered", {"kind": kind, "region": "EAST", "salesperson_id": "sp-1"}
        ),
        envelope(
            customer_id,
            2,
            "CreditInvestigated",
            {"rating": "good", "credit_limit": credit_limit, "notes": ""},
        ),
        envelope(customer_id, 3, "CustomerApproved", {"code": "EAST-D0001"}),
        envelope(
            customer_id,
            4,
            "ContractSigned",
            {"contract_number": "HT-1", "valid_from": "2026-01-01", "valid_to": "2026-12-31"},
        ),
    ]


class Fixture:
    def __init__(self) -> None:
        self.clock = FixedClock(START)
        self.customers = InMemoryCustomerDirectory()
        self.app = OrdersApplication(
            Settings(), self.clock, self.customers, env={"PERSISTENCE_MODULE": "eventsourcing.popo"}
        )

    def dealer(self, customer_id: str = "c-1", **options: Any) -> str:
        for e in customer_events(customer_id, **options):
            self.customers.apply(e)
        return customer_id

    def list_product(self, code: str = "P-1", actor: Actor = GM, **options: Any) -> dict[str, Any]:
        """A valve at 100.00 (cost 60.00) in the catalogue, unless ``options`` say otherwise."""
        product: dict[str, Any] = {
            "name": "valve",
            "spec": "DN50",
            "list_price": Decimal("100"),
            "standard_cost": Decimal("60"),
        }
        return self.app.list_product(c.ListProduct(actor=actor, product_code=code, **product | options))

    def product(self, code: str = "P-1", quantity: int = 10) -> str:
        self.list_product(code)
        if quantity:
            self.app.receive_stock(c.ReceiveStock(actor=PRODUCTION, product_code=code, quantity=quantity))
        return code

    def order(
        self,
        customer: str,
        product: str,
        quantity: int,
        channel: c.Channel = "fax",
        actor: Actor = SALES,
        **line: Any,
    ) -> dict[str, Any]:
        """An order of one line, at list price unless ``line`` says otherwise."""
        body = c.OrderLine(product_code=product, quantity=quantity, **line)
        return self.app.place_order(
            c.PlaceOrder(actor=actor, customer_id=customer, channel=channel, lines=[body])
        )

    def ship(self, order_id: str, product: str, quantity: int) -> dict[str, Any]:
        line = c.ShipLine(product_code=product, quantity=quantity)
        return self.app.ship_order(c.ShipOrder(actor=PRODUCTION, order_id=order_id, lines=[line]))

    def account(self, customer: str) -> dict[str, Any]:
        return self.app.get_account(c.GetAccount(customer_id=customer))


def shipped_order(fx: Fixture, customer: str, product: str, quantity: int, channel: c.Channel = "fax") -> str:
    """An order of ``quantity`` units, shipped: its whole amount is an outstanding receivable."""
    order = fx.order(customer, product, quantity, channel)
    fx.ship(order["id"], product, quantity)
    return str(order["id"])
