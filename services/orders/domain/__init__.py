"""Orders (要货、订货、留货): products, stock, prices, orders, holds, receivables, branch planning (O1–O14).

Pure: no I/O. Each command method checks its rule and raises ``DomainError`` naming the rule (O14)
before any event, so a refusal changes nothing. One module per aggregate family; the names are
re-exported here, so ``from services.orders.domain import Order`` keeps working. Event topics are
pinned (``orders.<Aggregate>.<Event>``): where a class lives does not change how stored events load.
"""

from services.orders.domain.accounts import CustomerAccount
from services.orders.domain.common import (
    CASHIERS,
    DEPARTMENT_HEADS,
    ORDER_TAKERS,
    ORDERS_NAMESPACE,
    PRICE_SETTERS,
    SALES_ROLES,
    SHIPPERS,
    CustomerSnapshot,
    iso_week,
    local_date,
    money,
    named_id,
    refuse,
)
from services.orders.domain.holds import HoldBook, HoldStatus, Reservation, hold_expiry
from services.orders.domain.order_status import RELEASERS, OrderStatus, contract_holds, status_for
from services.orders.domain.orders import LineRequest, Order
from services.orders.domain.prices import PriceException
from services.orders.domain.products import Product
from services.orders.domain.receivables import DueBook
from services.orders.domain.request_lists import RequestList, request_deadline

# Every orders aggregate, each stored under its pinned topic ``orders.<Aggregate>``.
AGGREGATES = (Product, PriceException, Order, CustomerAccount, Reservation, HoldBook, DueBook, RequestList)

__all__ = [
    "AGGREGATES",
    "CASHIERS",
    "DEPARTMENT_HEADS",
    "ORDERS_NAMESPACE",
    "ORDER_TAKERS",
    "PRICE_SETTERS",
    "RELEASERS",
    "SALES_ROLES",
    "SHIPPERS",
    "CustomerAccount",
    "CustomerSnapshot",
    "DueBook",
    "HoldBook",
    "HoldStatus",
    "LineRequest",
    "Order",
    "OrderStatus",
    "PriceException",
    "Product",
    "RequestList",
    "Reservation",
    "contract_holds",
    "hold_expiry",
    "iso_week",
    "local_date",
    "money",
    "named_id",
    "refuse",
    "request_deadline",
    "status_for",
]
