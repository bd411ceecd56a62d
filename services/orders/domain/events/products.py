"""Events of a product and its stock ledger (O2, O8, O10, O15)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from eventsourcing.domain import AggregateCreated, AggregateEvent

from shared.aggregate import Meta


@dataclass(frozen=True)
class ProductListing:
    """O2: what a listing says of a product (the fields both listing events carry, in their order)."""

    product_code: str
    name: str
    spec: str
    list_price: Decimal
    standard_cost: Decimal
    in_production: bool


class ProductListed(ProductListing, AggregateCreated):
    """O2: a product listed with its one list price and standard cost."""

    TOPIC = "orders.Product.ProductListed"
    meta: Meta


class ProductRelisted(ProductListing, AggregateEvent):
    """O2: a product's name, spec, list price, cost or production set again."""

    TOPIC = "orders.Product.ProductRelisted"
    meta: Meta


class StockReceived(AggregateEvent):
    """O8: units received into stock (what is received is made)."""

    TOPIC = "orders.Product.StockReceived"
    product_code: str
    quantity: int
    meta: Meta


class StockAllocated(AggregateEvent):
    """O8/O9: units set aside for a hold or an order."""

    TOPIC = "orders.Product.StockAllocated"
    product_code: str
    holder_id: str
    customer_id: str
    quantity: int
    meta: Meta


class StockReleased(AggregateEvent):
    """O9: a holder's units given back to free stock."""

    TOPIC = "orders.Product.StockReleased"
    product_code: str
    holder_id: str
    customer_id: str
    quantity: int
    meta: Meta


class StockTransferred(AggregateEvent):
    """O9: a converted hold's units become its order's."""

    TOPIC = "orders.Product.StockTransferred"
    product_code: str
    from_id: str
    to_id: str
    quantity: int
    meta: Meta


class StockShipped(AggregateEvent):
    """O8/O11: units shipped for an order, from its allocation first."""

    TOPIC = "orders.Product.StockShipped"
    product_code: str
    order_id: str
    customer_id: str
    quantity: int
    from_allocation: int
    meta: Meta


class StockReturned(AggregateEvent):
    """O15: returned units booked back into stock."""

    TOPIC = "orders.Product.StockReturned"
    product_code: str
    order_id: str
    customer_id: str
    quantity: int
    meta: Meta


class ProductionRequested(AggregateEvent):
    """O10: production asked to make an order's shortfall."""

    TOPIC = "orders.Product.ProductionRequested"
    product_code: str
    order_id: str
    customer_id: str
    quantity: int
    meta: Meta
