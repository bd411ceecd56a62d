"""Products and the stock ledger (O2, O8)."""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

from eventsourcing.domain import event

from services.orders.domain.common import PRICE_SETTERS, money, named_id, refuse
from shared.aggregate import Meta, SalesAggregate, require_role
from shared.contracts import Role
from shared.errors import InvalidState


class Product(SalesAggregate):
    """One product: its single list price (O2), standard cost, and stock ledger (O8).

    The ledger is this aggregate's state, so two holds on the last units conflict on its version:
    one is saved, the other is decided again on fresh stock and refused.
    """

    TOPIC = "orders.Product"

    @staticmethod
    def create_id(product_code: str) -> UUID:
        return named_id(f"product:{product_code}")

    @classmethod
    def list_new(
        cls,
        product_code: str,
        name: str,
        spec: str,
        list_price: Decimal,
        standard_cost: Decimal,
        in_production: bool,
        meta: Meta,
    ) -> Product:
        require_role(meta, PRICE_SETTERS, "O2", "set a list price")
        return cls(
            product_code=product_code,
            name=name,
            spec=spec,
            list_price=money(list_price),
            standard_cost=money(standard_cost),
            in_production=in_production,
            meta=meta,
        )

    @event("ProductListed", topic="orders.Product.ProductListed")
    def __init__(
        self,
        product_code: str,
        name: str,
        spec: str,
        list_price: Decimal,
        standard_cost: Decimal,
        in_production: bool,
        meta: Meta,
    ) -> None:
        self.product_code = product_code
        self.name = name
        self.spec = spec
        self.list_price = list_price
        self.standard_cost = standard_cost
        self.in_production = in_production
        self.on_hand = 0
        self.allocations: dict[str, int] = {}  # holder (hold or order id) → units set aside

    def relist(
        self,
        name: str,
        spec: str,
        list_price: Decimal,
        standard_cost: Decimal,
        in_production: bool,
        meta: Meta,
    ) -> None:
        require_role(meta, PRICE_SETTERS, "O2", "set a list price")
        self._listed_again(
            product_code=self.product_code,
            name=name,
            spec=spec,
            list_price=money(list_price),
            standard_cost=money(standard_cost),
            in_production=in_production,
            meta=meta,
        )

    @event("ProductRelisted", topic="orders.Product.ProductRelisted")
    def _listed_again(
        self,
        product_code: str,
        name: str,
        spec: str,
        list_price: Decimal,
        standard_cost: Decimal,
        in_production: bool,
        meta: Meta,
    ) -> None:
        self.name, self.spec, self.list_price = name, spec, list_price
        self.standard_cost, self.in_production = standard_cost, in_production

    @property
    def available(self) -> int:
        return self.on_hand - sum(self.allocations.values())

    def receive(self, quantity: int, meta: Meta) -> None:
        require_role(meta, {Role.PRODUCTION}, "O8", "receive stock")
        if quantity <= 0:
            raise refuse("O8", "received quantity must be positive", field="quantity")
        self._stock_received(product_code=self.product_code, quantity=quantity, meta=meta)

    @event("StockReceived", topic="orders.Product.StockReceived")
    def _stock_received(self, product_code: str, quantity: int, meta: Meta) -> None:
        self.on_hand += quantity
        self.in_production = True  # what is received is made

    def allocate(self, holder_id: str, customer_id: str, quantity: int, rule: str, meta: Meta) -> None:
        if quantity > self.available:
            raise InvalidState(
                f"only {self.available} of {self.product_code} available, {quantity} asked",
                rule=rule,
                details={"available": self.available, "quantity": quantity},
            )
        self._stock_allocated(
            product_code=self.product_code,
            holder_id=holder_id,
            customer_id=customer_id,
            quantity=quantity,
            meta=meta,
        )

    @event("StockAllocated", topic="orders.Product.StockAllocated")
    def _stock_allocated(
        self, product_code: str, holder_id: str, customer_id: str, quantity: int, meta: Meta
    ) -> None:
        self.allocations[holder_id] = self.allocations.get(holder_id, 0) + quantity

    def release(self, holder_id: str, customer_id: str, meta: Meta) -> None:
        quantity = self.allocations.get(holder_id, 0)
        if quantity:
            self._stock_released(
                product_code=self.product_code,
                holder_id=holder_id,
                customer_id=customer_id,
                quantity=quantity,
                meta=meta,
            )

    @event("StockReleased", topic="orders.Product.StockReleased")
    def _stock_released(
        self, product_code: str, holder_id: str, customer_id: str, quantity: int, meta: Meta
    ) -> None:
        self.allocations.pop(holder_id, None)

    def transfer(self, from_id: str, to_id: str, meta: Meta) -> None:
        """A converted hold's units become the order's."""
        quantity = self.allocations.get(from_id, 0)
        if quantity:
            self._stock_transferred(
                product_code=self.product_code, from_id=from_id, to_id=to_id, quantity=quantity, meta=meta
            )

    @event("StockTransferred", topic="orders.Product.StockTransferred")
    def _stock_transferred(
        self, product_code: str, from_id: str, to_id: str, quantity: int, meta: Meta
    ) -> None:
        self.allocations.pop(from_id, None)
        self.allocations[to_id] = self.allocations.get(to_id, 0) + quantity

    def ship(self, order_id: str, customer_id: str, quantity: int, meta: Meta) -> None:
        """Ship from the order's own allocation first, then from free stock (O8, O11)."""
        own = self.allocations.get(order_id, 0)
        if quantity > own + self.available:
            raise InvalidState(
                f"only {own + self.available} of {self.product_code} can be shipped, {quantity} asked",
                rule="O8",
                details={"available": own + self.available, "quantity": quantity},
            )
        self._stock_shipped(
            product_code=self.product_code,
            order_id=order_id,
            customer_id=customer_id,
            quantity=quantity,
            from_allocation=min(own, quantity),
            meta=meta,
        )

    @event("StockShipped", topic="orders.Product.StockShipped")
    def _stock_shipped(
        self,
        product_code: str,
        order_id: str,
        customer_id: str,
        quantity: int,
        from_allocation: int,
        meta: Meta,
    ) -> None:
        self.on_hand -= quantity
        left = self.allocations.get(order_id, 0) - from_allocation
        if left > 0:
            self.allocations[order_id] = left
        else:
            self.allocations.pop(order_id, None)

    def take_back(self, order_id: str, customer_id: str, quantity: int, meta: Meta) -> None:
        """O15: returned goods booked back into stock."""
        self._stock_returned(
            product_code=self.product_code,
            order_id=order_id,
            customer_id=customer_id,
            quantity=quantity,
            meta=meta,
        )

    @event("StockReturned", topic="orders.Product.StockReturned")
    def _stock_returned(
        self, product_code: str, order_id: str, customer_id: str, quantity: int, meta: Meta
    ) -> None:
        self.on_hand += quantity

    def request_production(self, order_id: str, customer_id: str, shortfall: int, meta: Meta) -> None:
        self._production_requested(
            product_code=self.product_code,
            order_id=order_id,
            customer_id=customer_id,
            quantity=shortfall,
            meta=meta,
        )

    @event("ProductionRequested", topic="orders.Product.ProductionRequested")
    def _production_requested(
        self, product_code: str, order_id: str, customer_id: str, quantity: int, meta: Meta
    ) -> None:
        pass
