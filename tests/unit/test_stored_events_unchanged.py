"""Moving the event declarations into the shared contracts (``shared/<service>_contract``) changed nothing
stored or published: every event class keeps its pinned topic, its aggregate, its fields in their stored
order and its version, and a flow of every write service stores and relays the same bytes as before the
move (``stored_events.json``, written by the classes declared by hand; ids, which are random, are numbered
in order of appearance)."""

from __future__ import annotations

import dataclasses
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic

from services.complaints import api as complaints_api
from services.complaints.application import ComplaintsApplication
from services.customers import api as customers_api
from services.field import api as field_api
from services.field.application import FieldApplication
from services.field.customer_view import InMemoryCustomerDirectory
from services.orders import api as orders_api
from services.orders import commands as c
from shared.clock import FixedClock
from shared.envelope import EnvelopeEncoder
from shared.settings import Settings
from shared.store import ServiceApplication
from tests.unit.orders_kit import FINANCE, GM, START, Fixture, shipped_order
from tests.unit.test_complaints_domain import quality, service, verify
from tests.unit.test_field_domain import T0, field_flow

BEFORE = json.loads((Path(__file__).parent / "stored_events.json").read_text())
POPO = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
IDS = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}|SO\d+-[0-9A-F]{8}")


def shape(event_class: type) -> dict[str, Any]:
    """What decides how an event of the class is stored and published."""
    return {
        "topic": get_topic(event_class),
        "aggregate": event_class.__qualname__.split(".")[0],
        "fields": [f.name for f in dataclasses.fields(event_class)],
        "version": getattr(event_class, "class_version", 1),
    }


def stored_and_relayed(app: ServiceApplication) -> list[str]:
    """Each stored event's topic, stored JSON and envelope JSON, its ids numbered as they appear."""
    encoder = EnvelopeEncoder(app.mapper, app.service)
    texts: list[str] = []
    for n in app.recorder.select_notifications(start=1, limit=10_000):
        _, envelope = encoder.encode(UUID(str(n.originator_id)), n.originator_version, n.topic, n.state, n.id)
        texts += [n.topic, n.state.decode(), envelope.decode()]
    numbered: dict[str, str] = {}
    return [
        IDS.sub(lambda m: numbered.setdefault(m[0].replace("-", ""), f"#{len(numbered)}"), t) for t in texts
    ]


def orders_flow() -> ServiceApplication:
    fx = Fixture()
    dealer, product = fx.dealer(), fx.product(quantity=20)
    order = shipped_order(fx, dealer, product, 5)
    fx.app.record_payment(c.RecordPayment(actor=FINANCE, order_id=order, amount=Decimal("500")))
    cancelled = fx.order(dealer, product, 2)["id"]
    fx.app.cancel_order(c.CancelOrder(actor=GM, order_id=cancelled, reason="withdrawn"))
    return fx.app


def complaints_flow() -> ServiceApplication:
    app = ComplaintsApplication(Settings(), FixedClock(START), InMemoryCustomerDirectory(), env=POPO)
    verify(app, service(app), valid=True, severity="serious")
    quality(app)
    return app


def field_flow_app() -> ServiceApplication:
    app = FieldApplication(Settings(), FixedClock(T0), InMemoryCustomerDirectory(), env=POPO)
    field_flow(app)
    return app


def test_every_event_class_is_stored_under_its_topic_with_its_fields_in_their_order() -> None:
    events = customers_api.EVENTS + orders_api.EVENTS + complaints_api.EVENTS + field_api.EVENTS
    assert {shape(event_class)["topic"]: shape(event_class) for event_class in events} == BEFORE["classes"]


def test_a_flow_of_each_service_stores_and_relays_the_same_bytes() -> None:
    flows = {"orders": orders_flow(), "complaints": complaints_flow(), "field": field_flow_app()}
    assert {name: stored_and_relayed(app) for name, app in flows.items()} == BEFORE["flows"]
