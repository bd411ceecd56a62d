"""The orders integration tests' kit (not a test module): the customers and orders services in-process,
and data set-up."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.customers.api import register as register_customers
from services.customers.application import CustomersApplication
from services.orders.api import register as register_orders
from services.orders.application import OrdersApplication
from services.orders.customer_view import PostgresCustomerDirectory
from services.orders.main import background
from shared.clock import FixedClock
from shared.database import ensure_database
from shared.settings import Settings
from tests.builders import FINANCE, GM, MARKETING, PRODUCTION, REGIONAL, SALES, SUPERVISOR, Who, prospect
from tests.conftest import Requester, service_running, wait_for

START = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # Friday 10:00 in Shanghai: the orders modules' clock


@contextlib.asynccontextmanager
async def customers_running(settings: Settings, clock: FixedClock) -> AsyncIterator[Any]:
    ensure_database(settings, ["customers"])
    async with service_running(
        CustomersApplication(settings, clock), register_customers, settings
    ) as running:
        yield running


@contextlib.asynccontextmanager
async def orders_running(settings: Settings, clock: FixedClock) -> AsyncIterator[Any]:
    """The orders service as main.py runs it: routes, relay, customer view, hold expiry job."""
    ensure_database(settings, ["orders"])
    app = OrdersApplication(settings, clock, PostgresCustomerDirectory(settings))
    async with service_running(app, register_orders, settings, extra=background) as running:
        yield running


def price_exception(
    actor: Who, customer_id: str, product_code: str, unit_price: str, reason: str
) -> dict[str, Any]:
    """The body of ``request_price_exception`` (O2)."""
    return {
        "actor": actor,
        "customer_id": customer_id,
        "product_code": product_code,
        "unit_price": unit_price,
        "reason": reason,
    }


@dataclass
class Orders:
    request_: Requester

    async def cmd(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self.request_("orders", "cmd", name, body)

    async def ok(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        reply = await self.cmd(name, body)
        assert reply["ok"], reply
        return reply["result"]

    async def query(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        reply = await self.request_("orders", "query", name, body)
        assert reply["ok"], reply
        return reply["result"]

    async def refused(self, name: str, body: dict[str, Any], rule: str) -> dict[str, Any]:
        reply = await self.cmd(name, body)
        assert not reply["ok"], reply
        assert reply["error"]["rule"] == rule, reply
        return reply["error"]

    async def product(self, quantity: int = 0, price: str = "100.00", in_production: bool = True) -> str:
        code = f"P-{uuid.uuid4().hex[:8].upper()}"
        await self.ok(
            "list_product",
            {
                "actor": GM,
                "product_code": code,
                "name": "gate valve",
                "spec": "DN50",
                "list_price": price,
                "standard_cost": "60.00",
                "in_production": in_production,
            },
        )
        if quantity:
            await self.ok("receive_stock", {"actor": PRODUCTION, "product_code": code, "quantity": quantity})
        return code

    async def customer(
        self,
        kind: str = "dealer",
        credit_limit: str = "1000000",
        contract: bool = True,
        capital_limit: str | None = None,
        payment_terms: str = "30 days",
    ) -> str:
        """Registered, investigated, approved (and contracted / limited); known to orders' view."""

        async def customers(name: str, body: dict[str, Any]) -> dict[str, Any]:
            reply = await self.request_("customers", "cmd", name, body)
            assert reply["ok"], reply
            return reply["result"]

        registered = await customers(
            "register_prospect", prospect(kind) | {"preferred_payment_terms": payment_terms}
        )
        customer_id = registered["customer_id"]
        await customers(
            "investigate_credit",
            {"actor": FINANCE, "customer_id": customer_id, "rating": "good", "credit_limit": credit_limit},
        )
        result = await customers("approve_customer", {"actor": SUPERVISOR, "customer_id": customer_id})
        if contract:
            result = await self.sign_contract(customer_id)
        if capital_limit is not None:
            result = await customers(
                "set_capital_limit",
                {"actor": MARKETING, "customer_id": customer_id, "capital_limit": capital_limit},
            )
        await self.known(customer_id, result["version"])
        return customer_id

    async def sign_contract(
        self, customer_id: str, valid_from: str = "2026-01-01", valid_to: str = "2027-12-31"
    ) -> Any:
        reply = await self.request_(
            "customers",
            "cmd",
            "sign_contract",
            {
                "actor": REGIONAL,
                "customer_id": customer_id,
                "contract_number": f"HT-{customer_id[:8]}",
                "valid_from": valid_from,
                "valid_to": valid_to,
            },
        )
        assert reply["ok"], reply
        return reply["result"]

    async def known(self, customer_id: str, version: int) -> None:
        """Wait until orders' customer view has caught up with the customer's version."""

        async def caught_up() -> bool:
            reply = await self.request_("orders", "query", "get_customer_view", {"customer_id": customer_id})
            return reply["ok"] and reply["result"]["version"] >= version

        await wait_for(caught_up)

    async def ship(self, order_id: str, product: str, quantity: int) -> dict[str, Any]:
        """``quantity`` units of the order's ``product`` shipped (by production)."""
        lines = [{"product_code": product, "quantity": quantity}]
        return await self.ok("ship_order", {"actor": PRODUCTION, "order_id": order_id, "lines": lines})

    async def shipped_order(self, customer_id: str, product: str, quantity: int) -> dict[str, Any]:
        """An order of ``quantity`` units, all shipped: its amount is a receivable from now (O11)."""
        order = await self.order(customer_id, product, quantity)
        await self.ship(order["id"], product, quantity)
        return order

    async def reserve(
        self, customer_id: str, product: str, quantity: int, deposit: str, actor: Who = SALES
    ) -> dict[str, Any]:
        """A hold (O9) of ``quantity`` units against ``deposit``."""
        body = {"customer_id": customer_id, "product_code": product, "quantity": quantity, "deposit": deposit}
        return await self.ok("reserve_goods", {"actor": actor, **body})

    @staticmethod
    def order_body(
        customer_id: str,
        product: str,
        quantity: int = 1,
        actor: Who = SALES,
        channel: str = "phone",
        **line: Any,
    ) -> dict[str, Any]:
        """A ``place_order`` body of one line."""
        lines = [{"product_code": product, "quantity": quantity, **line}]
        return {"actor": actor, "customer_id": customer_id, "channel": channel, "lines": lines}

    async def order(
        self, customer_id: str, product: str, quantity: int = 1, actor: Who = SALES, **line: Any
    ) -> dict[str, Any]:
        return await self.ok("place_order", self.order_body(customer_id, product, quantity, actor, **line))

    async def price_exception(
        self, customer_id: str, product: str, unit_price: str, reason: str
    ) -> dict[str, Any]:
        """A price exception (O2) requested by the salesperson."""
        body = price_exception(SALES, customer_id, product, unit_price, reason)
        return await self.ok("request_price_exception", body)
