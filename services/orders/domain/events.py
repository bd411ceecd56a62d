"""The orders aggregates' event classes: ``events.OrderShipped`` is the class its aggregate stores for the
contract's ``OrderShipped`` (``shared/orders_contract``), made from it; an aggregate applies each with
``@event(events.OrderShipped)`` on a method taking only the fields it uses, and triggers it with
``self.record(events.OrderShipped, meta, ...)``."""

from shared import orders_contract
from shared.events import aggregate_events

__getattr__ = aggregate_events(orders_contract)
