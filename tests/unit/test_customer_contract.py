"""The customers' published event contract (``shared/customer_contract.py``): every event the customers'
aggregates emit reaches a consumer as its contract model, through the relay's encoder; an event of a type
the contract does not know (a newer release's) is passed over by every customer view, as before."""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal
from uuid import UUID

import orjson
import pytest

from services.customers import api as customers_api
from services.customers import commands as c
from services.customers.application import CustomersApplication
from services.customers.domain import Grade, Rating, SecurityKind, TerminationReason
from services.field import customer_view as field_view
from services.orders import customer_view as orders_view
from shared import customer_directory
from shared.clock import FixedClock
from shared.contracts import Envelope, Role
from shared.customer_contract import EVENTS, CustomerGraded, CustomerRegistered, Status, decode
from shared.envelope import EnvelopeEncoder
from shared.events import event_contract
from shared.settings import Settings
from tests.builders import customer_event, kept_event
from tests.unit.test_customers_domain import NOW, actor, approved, register
from tests.unit.test_customers_lifecycle import propose, review, revise, with_contract


def a_customers_whole_life(app: CustomersApplication) -> None:
    """Commands that make every event of the customers' contract at least once."""
    manager, supervisor, regional = (
        actor(Role.SALES_MANAGER),
        actor(Role.SALES_SUPERVISOR),
        actor(Role.REGIONAL_MANAGER),
    )
    rejected = register(app)
    app.reject_customer(c.RejectCustomer(actor=supervisor, customer_id=rejected, reason="no fit"))
    branch = register(app, "branch")
    app.set_capital_limit(
        c.SetCapitalLimit(
            actor=actor(Role.MARKETING_DIRECTOR), customer_id=branch, capital_limit=Decimal("5000")
        )
    )
    dealer = with_contract(app)
    app.grade_customer(c.GradeCustomer(actor=manager, customer_id=dealer, grade=Grade.A))
    app.record_prepayment(
        c.RecordPrepayment(actor=manager, customer_id=dealer, year=2026, amount=Decimal("10000"))
    )
    app.edit_customer_file(
        c.EditCustomerFile(actor=manager, customer_id=dealer, reason="new bank", bank="BOC")
    )
    app.reassign_customer(
        c.ReassignCustomer(actor=supervisor, customer_id=dealer, salesperson_id="sp-9", reason="left")
    )
    app.move_customer_region(
        c.MoveCustomerRegion(actor=regional, customer_id=dealer, region="WEST", reason="moved")
    )
    revise(app, dealer, "20000", Rating.POOR)  # a higher limit waits; a poor rating holds the orders
    app.approve_credit_raise(c.ApproveCreditRaise(actor=manager, customer_id=dealer))
    app.lift_credit_hold(c.LiftCreditHold(actor=manager, customer_id=dealer, reason="reviewed"))
    security = c.RecordSecurity(
        actor=manager,
        customer_id=dealer,
        security_kind=SecurityKind.MORTGAGE,
        value=Decimal("300000"),
        holder="bank",
        expires_on=date(2027, 6, 30),
    )
    security_id = app.record_security(security)["securities"][0]["security_id"]
    app.release_security(
        c.ReleaseSecurity(actor=manager, customer_id=dealer, security_id=security_id, reason="repaid")
    )
    propose(app, dealer, payment_terms_days=60)
    for role in (Role.SALES_SUPERVISOR, Role.REGIONAL_MANAGER, Role.GENERAL_MANAGER):
        review(app, dealer, role)
    propose(app, dealer, payment_terms_days=90)
    review(app, dealer, Role.SALES_SUPERVISOR, approve=False)
    app.request_contract_termination(
        c.RequestContractTermination(actor=regional, customer_id=dealer, reason=TerminationReason.MUTUAL)
    )
    app.approve_contract_termination(
        c.ApproveContractTermination(actor=actor(Role.GENERAL_MANAGER), customer_id=dealer)
    )
    app.write_key_account_plan(
        c.WriteKeyAccountPlan(
            actor=manager,
            customer_id=dealer,
            year=2027,
            sales_target=Decimal("900000"),
            why_key="volume",
            actions=["visit"],
        )
    )
    app.advise_key_account_plan(
        c.AdviseKeyAccountPlan(
            actor=actor(Role.CUSTOMER_SERVICE_MANAGER), customer_id=dealer, advice="a hotline"
        )
    )
    app.suspend_customer(c.SuspendCustomer(actor=manager, customer_id=dealer, reason="channel optimisation"))
    app.reinstate_customer(c.ReinstateCustomer(actor=manager, customer_id=dealer, reason="back"))
    app.erase_personal_data(
        c.ErasePersonalData(actor=actor(Role.GENERAL_MANAGER), customer_id=approved(app), reason="asked")
    )


def published(app: CustomersApplication) -> list[Envelope]:
    """What the relay publishes of the application's store: each stored event through its encoder."""
    encoder = EnvelopeEncoder(app.mapper, app.service)
    return [
        Envelope.model_validate(
            orjson.loads(
                encoder.encode(UUID(str(n.originator_id)), n.originator_version, n.topic, n.state, n.id)[1]
            )
        )
        for n in app.recorder.select_notifications(start=1, limit=10_000)
    ]


def test_every_event_the_aggregates_emit_decodes_into_its_contract_model() -> None:
    app = CustomersApplication(Settings(), FixedClock(NOW), env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    a_customers_whole_life(app)
    envelopes = published(app)
    decoded = [decode(envelope) for envelope in envelopes]
    assert {type(event).__name__ for event in decoded} == set(EVENTS)  # every event, none unknown
    for envelope, event in zip(envelopes, decoded, strict=True):
        assert isinstance(event, EVENTS[envelope.event_type])
        assert envelope.aggregate_type == event.AGGREGATE
        # nothing lost or changed on the way: the model writes the data back as it travelled
        assert event.model_dump(mode="json") == envelope.data


def test_every_aggregate_event_class_is_made_from_its_contract_model() -> None:
    """One declaration: each event class of the aggregates has its contract's name, topic and version."""
    made = {event_class.__name__: event_class for event_class in customers_api.EVENTS}
    assert set(made) == set(EVENTS)
    for name, event_class in made.items():
        contract = event_contract(event_class)
        assert contract is EVENTS[name]
        made_as = (getattr(event_class, "TOPIC", None), getattr(event_class, "class_version", 1))
        assert made_as == (contract.TOPIC, contract.VERSION)


def test_the_status_each_event_declares_is_the_aggregates_status_after_it() -> None:
    """The views take a customer's status from the contract (``STATUS``), the aggregate sets its own in
    each event's method: the two must agree, event by event."""
    app = CustomersApplication(Settings(), FixedClock(NOW), env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    a_customers_whole_life(app)
    declared = [
        (envelope, event.STATUS)
        for envelope in published(app)
        if (event := decode(envelope)) is not None and event.STATUS is not None
    ]
    assert {status for _, status in declared} == set(Status)  # every status is declared by some event
    for envelope, status in declared:
        customer = app.repository.get(UUID(envelope.aggregate_id), version=envelope.aggregate_version)
        assert customer.status is status, (envelope.event_type, customer.status)


def test_c2_a_version_1_registration_decodes_upcast_to_version_2() -> None:
    envelope = customer_event("c-1", 1, "CustomerRegistered", {"region": "EAST"}, NOW)
    data = {k: v for k, v in envelope.data.items() if k != "lead_source"}
    event = decode(envelope.model_copy(update={"data": data, "schema_version": 1}))
    assert isinstance(event, CustomerRegistered)
    assert event.lead_source is None


def test_c5_a_version_1_grade_decodes_with_no_previous_grade() -> None:
    envelope = customer_event("c-1", 2, "CustomerGraded", {"grade": "B", "reason": ""}, NOW)
    event = decode(envelope.model_copy(update={"data": {"grade": "B", "reason": ""}, "schema_version": 1}))
    assert event == CustomerGraded(grade=Grade.B, previous=None, reason="")


UNKNOWN = (2, "CustomerLoyaltyAwarded", {"points": 10})  # a newer release's event


@pytest.mark.parametrize(
    "view",
    [
        orders_view.InMemoryCustomerDirectory,
        field_view.InMemoryCustomerDirectory,
        customer_directory.InMemoryCustomerDirectory,
    ],
    ids=["orders", "field", "directory"],
)
def test_an_event_of_an_unknown_type_is_passed_over_by_every_customer_view(view: type) -> None:
    registered = kept_event(
        1, "CustomerRegistered", {"kind": "dealer", "region": "EAST", "salesperson_id": "sp-1"}
    )
    with_unknown, without = view(), view()
    for directory, kept in ((with_unknown, (registered, UNKNOWN)), (without, (registered,))):
        for version, event_type, data in kept:
            directory.apply(customer_event("c-1", version, event_type, data, NOW))
    assert decode(customer_event("c-1", *UNKNOWN, NOW)) is None
    known, passed_over = without.get("c-1"), with_unknown.get("c-1")
    assert known is not None and passed_over is not None
    assert dataclasses.replace(passed_over, version=1) == known  # at most the version seen moves on
