"""The field aggregates' event classes: ``events.VisitLogged`` is the class its aggregate stores for the
contract's ``VisitLogged`` (``shared/field_contract.py``), made from it; the aggregates apply each with
``@event(events.VisitLogged)`` on a method taking only the fields it uses (or a subclass with its own
``apply``)."""

from shared import field_contract
from shared.events import aggregate_events

__getattr__ = aggregate_events(field_contract)
