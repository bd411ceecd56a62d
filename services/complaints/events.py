"""The complaints aggregates' event classes: ``events.ComplaintLogged`` is the class its aggregate stores for
the contract's ``ComplaintLogged`` (``shared/complaints_contract.py``), made from it; the aggregates apply
each with ``@event(events.ComplaintLogged)`` on a method taking only the fields it uses."""

from shared import complaints_contract
from shared.events import aggregate_events

__getattr__ = aggregate_events(complaints_contract)
