"""Events of a product and its stock ledger (O2, O8, O10, O15)."""

from __future__ import annotations

from shared.contracts import DecimalText
from shared.orders_contract.families import OrdersEvent


class ProductEvent(OrdersEvent, aggregate="Product"):
    """An event of a product and its stock ledger."""


class ProductListing(ProductEvent, family=True):
    """O2: what a listing says of a product (the fields both listing events carry, in their order)."""

    product_code: str
    name: str
    spec: str
    list_price: DecimalText
    standard_cost: DecimalText
    in_production: bool


class ProductListed(ProductListing):
    """O2: a product listed with its one list price and standard cost."""

    CREATED = True


class ProductRelisted(ProductListing):
    """O2: a product's name, spec, list price, cost or production set again."""


class StockReceived(ProductEvent):
    """O8: units received into stock (what is received is made)."""

    product_code: str
    quantity: int


class StockAllocated(ProductEvent):
    """O8/O9: units set aside for a hold or an order."""

    product_code: str
    holder_id: str
    customer_id: str
    quantity: int


class StockReleased(ProductEvent):
    """O9: a holder's units given back to free stock."""

    product_code: str
    holder_id: str
    customer_id: str
    quantity: int


class StockTransferred(ProductEvent):
    """O9: a converted hold's units become its order's."""

    product_code: str
    from_id: str
    to_id: str
    quantity: int


class StockShipped(ProductEvent):
    """O8/O11: units shipped for an order, from its allocation first."""

    product_code: str
    order_id: str
    customer_id: str
    quantity: int
    from_allocation: int


class StockReturned(ProductEvent):
    """O15: returned units booked back into stock."""

    product_code: str
    order_id: str
    customer_id: str
    quantity: int


class ProductionRequested(ProductEvent):
    """O10: production asked to make an order's shortfall."""

    product_code: str
    order_id: str
    customer_id: str
    quantity: int
