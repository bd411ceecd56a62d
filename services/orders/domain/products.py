"""Products and the stock ledger (O2, O8)."""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

from eventsourcing.domain import event

from services.orders.domain import events
from services.orders.domain.common import PRICE_SETTERS, ContractEvents, money, named_id
from shared.aggregate import Meta, SalesAggregate, refuse, require_role
from shared.contracts import Role
from shared.errors import InvalidState
from shared.orders_contract import ProductListing


class Product(ContractEvents, SalesAggregate):
    """One product: its single list price (O2), standard cost, and stock ledger (O8).

    The ledger is this aggregate's state, so two holds on the last units conflict on its version:
    one is saved, the other is decided again on fresh stock and refused.
    """

    TOPIC = "orders.Product"
    KEY = "product_code"
    # Events it stores that change none of its state (the others are named by their ``@event`` method):
    ProductionRequested = events.ProductionRequested

    # Both listing events carry the whole listing (ProductListing): each applies it as a whole.
    class ProductListed(events.ProductListed):
        def apply(self, aggregate: Product) -> None:
            aggregate.take_listing(self)

    class ProductRelisted(events.ProductRelisted):
        def apply(self, aggregate: Product) -> None:
            aggregate.take_listing(self)

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
        listing = ProductListing(
            product_code=product_code,
            name=name,
            spec=spec,
            list_price=list_price,
            standard_cost=standard_cost,
            in_production=in_production,
        )
        return cls._create(events.ProductListed, **_priced(listing), meta=meta)

    def __init__(self, product_code: str) -> None:
        self.product_code = product_code
        self.on_hand = 0
        self.allocations: dict[str, int] = {}  # holder (hold or order id) → units set aside

    def relist(self, listing: ProductListing, meta: Meta) -> None:
        """O2: the product listed again, on new terms."""
        require_role(meta, PRICE_SETTERS, "O2", "set a list price")
        assert listing.product_code == self.product_code
        self.record(events.ProductRelisted, meta, **_priced(listing))

    def take_listing(self, listing: ProductListing) -> None:
        self.name, self.spec, self.list_price = listing.name, listing.spec, listing.list_price
        self.standard_cost, self.in_production = listing.standard_cost, listing.in_production

    @property
    def available(self) -> int:
        return self.on_hand - sum(self.allocations.values())

    def receive(self, quantity: int, meta: Meta) -> None:
        require_role(meta, {Role.PRODUCTION}, "O8", "receive stock")
        if quantity <= 0:
            raise refuse("O8", "received quantity must be positive", field="quantity")
        self.record(events.StockReceived, meta, quantity=quantity)

    @event(events.StockReceived)
    def _stock_received(self, quantity: int) -> None:
        self.on_hand += quantity
        self.in_production = True  # what is received is made

    def allocate(self, holder_id: str, customer_id: str, quantity: int, rule: str, meta: Meta) -> None:
        if quantity > self.available:
            raise InvalidState(
                f"only {self.available} of {self.product_code} available, {quantity} asked",
                rule=rule,
                details={"available": self.available, "quantity": quantity},
            )
        self.record(
            events.StockAllocated, meta, holder_id=holder_id, customer_id=customer_id, quantity=quantity
        )

    @event(events.StockAllocated)
    def _stock_allocated(self, holder_id: str, quantity: int) -> None:
        self.allocations[holder_id] = self.allocations.get(holder_id, 0) + quantity

    def release(self, holder_id: str, customer_id: str, meta: Meta) -> None:
        quantity = self.allocations.get(holder_id, 0)
        if quantity:
            self.record(
                events.StockReleased, meta, holder_id=holder_id, customer_id=customer_id, quantity=quantity
            )

    @event(events.StockReleased)
    def _stock_released(self, holder_id: str) -> None:
        self.allocations.pop(holder_id, None)

    def transfer(self, from_id: str, to_id: str, meta: Meta) -> None:
        """A converted hold's units become the order's."""
        quantity = self.allocations.get(from_id, 0)
        if quantity:
            self.record(events.StockTransferred, meta, from_id=from_id, to_id=to_id, quantity=quantity)

    @event(events.StockTransferred)
    def _stock_transferred(self, from_id: str, to_id: str, quantity: int) -> None:
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
        self.record(
            events.StockShipped,
            meta,
            order_id=order_id,
            customer_id=customer_id,
            quantity=quantity,
            from_allocation=min(own, quantity),
        )

    @event(events.StockShipped)
    def _stock_shipped(self, order_id: str, quantity: int, from_allocation: int) -> None:
        self.on_hand -= quantity
        left = self.allocations.get(order_id, 0) - from_allocation
        if left > 0:
            self.allocations[order_id] = left
        else:
            self.allocations.pop(order_id, None)

    def take_back(self, order_id: str, customer_id: str, quantity: int, meta: Meta) -> None:
        """O15: returned goods booked back into stock."""
        self.record(events.StockReturned, meta, order_id=order_id, customer_id=customer_id, quantity=quantity)

    @event(events.StockReturned)
    def _stock_returned(self, quantity: int) -> None:
        self.on_hand += quantity

    def request_production(self, order_id: str, customer_id: str, shortfall: int, meta: Meta) -> None:
        self.record(
            events.ProductionRequested, meta, order_id=order_id, customer_id=customer_id, quantity=shortfall
        )


def _priced(listing: ProductListing) -> dict[str, object]:
    """The listing's fields, its prices to the cent (O2)."""
    return {
        **vars(listing),
        "list_price": money(listing.list_price),
        "standard_cost": money(listing.standard_cost),
    }
