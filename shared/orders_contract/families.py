"""The families every orders event derives from: the service's, and that of the events about one customer."""

from __future__ import annotations

from typing import ClassVar

from shared.events import EventContract


class OrdersEvent(EventContract, family=True):
    """An event of the orders stream."""

    SERVICE: ClassVar[str] = "orders"


class OfCustomer(OrdersEvent, family=True):
    """An event about one customer: its data begins with the customer's id (what reporting keys it by)."""

    customer_id: str
