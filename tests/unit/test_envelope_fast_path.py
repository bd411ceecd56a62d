"""The relay's fast envelope encoder writes exactly the JSON of the ``Envelope`` model (the bus contract).

``EnvelopeEncoder`` skips the domain event object and the pydantic model; these tests hold its bytes to
``to_envelope`` of the mapper's domain event, for every event class of every write service (generated
field values), for events of real command flows, and for an event stored before its class's upcast.
"""

from __future__ import annotations

import dataclasses
import types
import typing
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

import orjson
import pytest
import typing_extensions
from eventsourcing.persistence import StoredEvent
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.complaints import api as complaints_api
from services.complaints import commands as complaint_commands
from services.complaints.application import ComplaintsApplication
from services.customers import api as customers_api
from services.customers.application import CustomersApplication
from services.customers.commands import GradeCustomer, SignContract, SuspendCustomer
from services.customers.domain import Customer, Grade
from services.field import api as field_api
from services.field.application import FieldApplication
from services.field.customer_view import InMemoryCustomerDirectory
from services.orders import api as orders_api
from services.orders import commands as order_commands
from shared.aggregate import Meta
from shared.clock import FixedClock
from shared.contracts import Role
from shared.envelope import BASE_FIELDS, EVENT_NAMESPACE, EnvelopeEncoder, event_id, to_envelope
from shared.settings import Settings
from shared.store import ServiceApplication
from tests.builders import SALES_MANAGER
from tests.unit.orders_kit import FINANCE, PRODUCTION, SALES, Fixture
from tests.unit.test_complaints_domain import quality, service, verify
from tests.unit.test_customers_domain import actor, approved
from tests.unit.test_field_domain import T0 as FIELD_T0
from tests.unit.test_field_domain import field_flow

POPO = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
EVENTS: dict[str, list[type]] = {
    "customers": customers_api.EVENTS,
    "orders": orders_api.EVENTS,
    "complaints": complaints_api.EVENTS,
    "field": field_api.EVENTS,
}


def reference(app: ServiceApplication, stored: StoredEvent, position: int) -> bytes:
    """What the relay published before the fast path: the mapper's domain event through the model."""
    envelope = to_envelope(app.mapper.to_domain_event(stored), app.service, position)
    return orjson.dumps(envelope.model_dump(mode="json"))


def encoded(app: ServiceApplication, stored: StoredEvent, position: int) -> tuple[str, bytes]:
    return EnvelopeEncoder(app.mapper, app.service).encode(
        UUID(str(stored.originator_id)), stored.originator_version, stored.topic, stored.state, position
    )


def assert_same(app: ServiceApplication, stored: StoredEvent, position: int) -> None:
    event_type, body = encoded(app, stored, position)
    expected = reference(app, stored, position)
    assert body == expected
    assert event_type == orjson.loads(expected)["event_type"]


def notifications(app: ServiceApplication) -> Iterator[tuple[StoredEvent, int]]:
    for n in app.recorder.select_notifications(start=1, limit=10_000):
        yield StoredEvent(n.originator_id, n.originator_version, n.topic, n.state), n.id


# Generated values of every event class ----------------------------------------------------------
offsets = st.builds(timezone, st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23)))
datetimes = st.datetimes(timezones=st.none() | st.just(UTC) | offsets | st.timezones())
decimals = st.decimals(allow_nan=True, allow_infinity=True)
identifiers = st.text(min_size=1, max_size=100)
SCALARS: dict[Any, st.SearchStrategy[Any]] = {
    str: st.text(max_size=30),
    int: st.integers(min_value=-(2**63), max_value=2**63 - 1),  # orjson writes 64-bit integers
    bool: st.booleans(),
    Decimal: decimals,
    date: st.dates(),
    datetime: datetimes,
    type(None): st.none(),
}
json_values = st.recursive(
    st.one_of(*SCALARS.values(), st.uuids(), st.floats()),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
metas = st.builds(
    Meta,
    actor_id=identifiers,
    actor_role=st.sampled_from([r.value for r in Role]),
    correlation_id=identifiers,
    causation_id=identifiers,
    at=datetimes,
)


def values_of(hint: Any) -> st.SearchStrategy[Any]:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return json_values
    if hint is Meta:
        return metas | st.none()  # an event without an actor: none on the envelope
    if hint in SCALARS:
        return SCALARS[hint]
    if origin is list:
        return st.lists(values_of(args[0]), max_size=3)
    if origin is dict:
        return st.dictionaries(values_of(args[0]), values_of(args[1]), max_size=3)
    if origin in (typing.Union, types.UnionType):
        return st.one_of(*(values_of(arg) for arg in args))
    if isinstance(hint, type) and issubclass(hint, Enum):
        return st.sampled_from(list(hint))
    if typing_extensions.is_typeddict(hint):
        return st.fixed_dictionaries({k: values_of(v) for k, v in typing.get_type_hints(hint).items()})
    raise AssertionError(f"no strategy for {hint!r}: add one")


@st.composite
def event_states(draw: st.DrawFn, event_class: type) -> dict[str, Any]:
    """An event's state as the mapper encodes it (its id and version are stored apart)."""
    hints = typing.get_type_hints(event_class)
    state: dict[str, Any] = {"timestamp": draw(datetimes)}
    for field in dataclasses.fields(event_class):
        if field.name == "originator_topic":
            state[field.name] = "some.Aggregate"
        elif field.name not in BASE_FIELDS or field.name == "meta":
            state[field.name] = draw(values_of(hints[field.name]))
    return state


@st.composite
def stored_events(draw: st.DrawFn, app: ServiceApplication, event_class: type) -> StoredEvent:
    state: dict[str, Any] = {
        "originator_id": draw(st.uuids()),
        "originator_version": draw(st.integers(min_value=1, max_value=2**31)),
        **draw(event_states(event_class)),
    }
    event: Any = object.__new__(event_class)
    object.__setattr__(event, "__dict__", state)
    return app.mapper.to_stored_event(event)


def applications() -> dict[str, ServiceApplication]:
    clock = FixedClock(NOW)
    return {
        "customers": CustomersApplication(Settings(), clock, env=POPO),
        "orders": Fixture().app,
        "complaints": ComplaintsApplication(Settings(), clock, InMemoryCustomerDirectory(), env=POPO),
        "field": FieldApplication(Settings(), clock, InMemoryCustomerDirectory(), env=POPO),
    }


APPS = applications()


@pytest.mark.parametrize(
    ("service", "event_class"),
    [(s, cls) for s, classes in EVENTS.items() for cls in classes],
    ids=lambda v: getattr(v, "__qualname__", v),
)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), position=st.integers(min_value=1, max_value=2**62))
def test_every_event_class_encodes_as_the_model_does(
    service: str, event_class: type, data: st.DataObject, position: int
) -> None:
    app = APPS[service]
    assert_same(app, data.draw(stored_events(app, event_class)), position)


# Events of real command flows --------------------------------------------------------------------
def test_customer_flow_events_encode_as_the_model_does() -> None:
    app = CustomersApplication(Settings(), FixedClock(NOW), env=POPO)
    dealer = approved(app)
    manager = actor(Role.SALES_MANAGER)
    app.grade_customer(GradeCustomer(actor=manager, customer_id=dealer, grade=Grade.B))
    app.grade_customer(GradeCustomer(actor=manager, customer_id=dealer, grade=Grade.A, reason="volume"))
    app.sign_contract(
        SignContract(
            actor=actor(Role.REGIONAL_MANAGER),
            customer_id=dealer,
            contract_number="HT-7",
            valid_from=date(2026, 1, 1),
            valid_to=date(2026, 12, 31),
        )
    )
    app.suspend_customer(SuspendCustomer(actor=manager, customer_id=dealer, reason="channel optimisation"))
    events = list(notifications(app))
    assert len(events) >= 7
    for stored, position in events:
        assert_same(app, stored, position)


def test_order_flow_events_encode_as_the_model_does() -> None:
    fx = Fixture()
    dealer, product = fx.dealer(credit_limit="100000"), fx.product(quantity=20)
    line = [order_commands.OrderLine(product_code=product, quantity=8)]
    order = fx.app.place_order(
        order_commands.PlaceOrder(actor=SALES, customer_id=dealer, channel="fax", lines=line)
    )
    fx.app.ship_order(
        order_commands.ShipOrder(
            actor=PRODUCTION,
            order_id=order["id"],
            lines=[order_commands.ShipLine(product_code=product, quantity=8)],
        )
    )
    fx.app.record_payment(
        order_commands.RecordPayment(actor=FINANCE, order_id=order["id"], amount=Decimal("412.5"))
    )
    events = list(notifications(fx.app))
    assert len(events) >= 5
    for stored, position in events:
        assert_same(fx.app, stored, position)


def test_complaint_flow_events_encode_as_the_model_does() -> None:
    app = ComplaintsApplication(Settings(), FixedClock(NOW), InMemoryCustomerDirectory(), env=POPO)
    verify(app, service(app), valid=True, severity="severe")
    cid = quality(app)
    step = {"actor": SALES_MANAGER, "complaint_id": cid}
    app.start_investigation(
        complaint_commands.StartInvestigation.model_validate(step | {"departments_notified": ["qa"]})
    )
    events = list(notifications(app))
    assert len(events) >= 4
    for stored, position in events:
        assert_same(app, stored, position)


def test_field_flow_events_encode_as_the_model_does() -> None:
    app = FieldApplication(Settings(), FixedClock(FIELD_T0), InMemoryCustomerDirectory(), env=POPO)
    field_flow(app)
    events = list(notifications(app))
    assert len(events) >= 20
    for stored, position in events:
        assert_same(app, stored, position)


def test_an_event_stored_before_its_upcast_is_upcast() -> None:
    app = APPS["customers"]
    event: Any = object.__new__(Customer.CustomerGraded)
    meta = Meta("sm-1", "sales_manager", "c", "c", NOW)
    state = {"originator_id": uuid.uuid4(), "originator_version": 5, "timestamp": NOW, "grade": "B"}
    object.__setattr__(event, "__dict__", state | {"reason": "first", "meta": meta})
    current = app.mapper.to_stored_event(event)
    version_1 = orjson.loads(current.state)
    del version_1["class_version"]  # version 1 had no "previous" and no class_version
    stored = StoredEvent(current.originator_id, 5, current.topic, orjson.dumps(version_1))
    assert_same(app, stored, 9)
    _, body = encoded(app, stored, 9)
    assert orjson.loads(body)["data"] == {"grade": "B", "previous": None, "reason": "first"}


def test_an_event_stored_by_a_newer_release_keeps_its_version_on_the_bus() -> None:
    """A rolling upgrade: this release's relay publishes an event the next release stored (class version
    3 of CustomerGraded, with a field this release does not know) under version 3, the field kept."""
    app = APPS["customers"]
    event: Any = object.__new__(Customer.CustomerGraded)
    meta = Meta("sm-1", "sales_manager", "c", "c", NOW)
    customer_id = uuid.uuid4()
    state = {"originator_id": customer_id, "originator_version": 5, "timestamp": NOW, "grade": "B"}
    object.__setattr__(event, "__dict__", state | {"previous": None, "reason": "first", "meta": meta})
    newer = orjson.loads(app.mapper.to_stored_event(event).state) | {"class_version": 3, "basis": "volume"}
    stored = StoredEvent(customer_id, 5, Customer.CustomerGraded.TOPIC, orjson.dumps(newer))
    _, body = encoded(app, stored, 9)
    envelope = orjson.loads(body)
    assert envelope["schema_version"] == 3
    assert envelope["data"] == {"grade": "B", "previous": None, "reason": "first", "basis": "volume"}


@given(st.one_of(st.uuids().map(str), st.text()), st.integers(min_value=0, max_value=2**63 - 1))
def test_an_event_id_is_the_name_based_uuid_of_its_aggregate_and_version(
    aggregate_id: str, version: int
) -> None:
    assert event_id(aggregate_id, version) == str(uuid.uuid5(EVENT_NAMESPACE, f"{aggregate_id}:{version}"))
