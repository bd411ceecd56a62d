"""Customer rules C1–C9 on the pure domain and the application with the in-memory (POPO) store."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import StoredEvent

from services.customers.application import CustomersApplication
from services.customers.commands import (
    ApproveCustomer,
    ErasePersonalData,
    GetCustomer,
    GradeCustomer,
    InvestigateCredit,
    RecordPrepayment,
    ReinstateCustomer,
    SetCapitalLimit,
    SignContract,
    SuspendCustomer,
)
from services.customers.domain import Customer, Grade, Kind, LeadSource, Rating
from services.customers.vault import InMemoryVault, TamperedValue
from shared.aggregate import Meta
from shared.clock import FixedClock
from shared.contracts import Actor, Role
from shared.envelope import data_model, to_envelope
from shared.errors import DomainError, Forbidden, InvalidState
from shared.settings import Settings
from tests.builders import registration

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def actor(role: Role, who: str = "u-1") -> Actor:
    return Actor(id=who, role=role)


@pytest.fixture
def app() -> CustomersApplication:
    return CustomersApplication(Settings(), FixedClock(NOW), env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def register(app: CustomersApplication, kind: str = "dealer", **overrides: Any) -> str:
    return str(app.register_prospect(registration(kind, **overrides))["customer_id"])


def stored_as_version_1(
    app: CustomersApplication, customer_id: str, event: str, by: Actor, **data: Any
) -> int:
    """The customer's next ``event`` (with ``data``) stored the way its class's version 1 was: without the
    field version 2 added (given as ``None`` in ``data``). The customer's version before it."""
    customer: Customer = app.repository.get(UUID(customer_id))
    new = getattr(customer, event)(
        originator_id=customer.id,
        originator_version=customer.version + 1,
        timestamp=NOW,
        meta=Meta(by.id, by.role.value, "c", "c", NOW),
        **data,
    )
    current = app.mapper.to_stored_event(new)
    state = app.mapper.transcoder.decode(current.state)
    assert state.pop("class_version") == 2
    for added in [name for name, value in data.items() if value is None]:
        del state[added]
    encoded = app.mapper.transcoder.encode(state)
    app.recorder.insert_events(
        [StoredEvent(current.originator_id, current.originator_version, current.topic, encoded)]
    )
    return int(customer.version)


def approved(app: CustomersApplication, kind: str = "dealer") -> str:
    customer_id = register(app, kind)
    app.investigate_credit(
        InvestigateCredit(
            actor=actor(Role.FINANCE),
            customer_id=customer_id,
            rating=Rating.GOOD,
            credit_limit=Decimal("9000"),
        )
    )
    app.approve_customer(ApproveCustomer(actor=actor(Role.SALES_SUPERVISOR), customer_id=customer_id))
    return customer_id


def stored_events(app: CustomersApplication) -> int:
    return app.recorder.max_notification_id() or 0


def test_c1_distributors_are_agents_and_dealers() -> None:
    assert [k for k in Kind if k.is_distributor] == [Kind.AGENT, Kind.DEALER]


def test_c2_prospect_registered_with_application_form(app: CustomersApplication) -> None:
    customer_id = register(app)
    customer = app.get_customer(GetCustomer(customer_id=customer_id))
    assert customer["status"] == "prospect"
    stored: Customer = app.repository.get(UUID(customer_id))
    assert stored.legal_representative.startswith("enc:v1:")  # the form's personal data is sealed
    assert customer["legal_representative"] == "王伟"
    assert stored.main_products == ["valves"]
    assert stored.created_on == NOW  # the injected clock stamps the event


def test_c2_only_sales_staff_register_prospects(app: CustomersApplication) -> None:
    with pytest.raises(Forbidden) as refused:
        register(app, actor=actor(Role.PRODUCTION))
    assert refused.value.rule == "C2"
    assert stored_events(app) == 0


def test_c3_poor_rating_rejects_with_reason(app: CustomersApplication) -> None:
    customer_id = register(app)
    result = app.investigate_credit(
        InvestigateCredit(
            actor=actor(Role.FINANCE),
            customer_id=customer_id,
            rating=Rating.POOR,
            credit_limit=Decimal("0"),
            notes="unpaid debts",
        )
    )
    assert result["status"] == "rejected"
    assert "unpaid debts" in result["rejection_reason"]


def test_c4_approval_needs_passed_credit_check(app: CustomersApplication) -> None:
    customer_id = register(app)
    before = stored_events(app)
    with pytest.raises(InvalidState) as refused:
        app.approve_customer(ApproveCustomer(actor=actor(Role.SALES_SUPERVISOR), customer_id=customer_id))
    assert refused.value.rule == "C4"
    assert stored_events(app) == before


def test_c4_salesperson_cannot_approve(app: CustomersApplication) -> None:
    customer_id = register(app)
    app.investigate_credit(
        InvestigateCredit(
            actor=actor(Role.FINANCE), customer_id=customer_id, rating=Rating.FAIR, credit_limit=Decimal("1")
        )
    )
    with pytest.raises(Forbidden) as refused:
        app.approve_customer(ApproveCustomer(actor=actor(Role.SALESPERSON), customer_id=customer_id))
    assert refused.value.rule == "C4"


def test_c4_codes_are_sequential_per_region_and_kind(app: CustomersApplication) -> None:
    codes = [app.get_customer(GetCustomer(customer_id=approved(app)))["code"] for _ in range(2)]
    branch_code = app.get_customer(GetCustomer(customer_id=approved(app, "branch")))["code"]
    assert codes == ["EAST-D0001", "EAST-D0002"]
    assert branch_code == "EAST-B0001"


def test_c5_regrade_records_reason(app: CustomersApplication) -> None:
    customer_id = approved(app)
    manager = actor(Role.SALES_MANAGER)
    app.grade_customer(GradeCustomer(actor=manager, customer_id=customer_id, grade=Grade.B))
    with pytest.raises(DomainError) as refused:
        app.grade_customer(GradeCustomer(actor=manager, customer_id=customer_id, grade=Grade.A, reason=" "))
    assert refused.value.rule == "C5"
    result = app.grade_customer(
        GradeCustomer(actor=manager, customer_id=customer_id, grade=Grade.A, reason="volume doubled")
    )
    assert result["grade"] == "A"
    with pytest.raises(Forbidden):
        app.grade_customer(
            GradeCustomer(
                actor=actor(Role.SALES_SUPERVISOR), customer_id=customer_id, grade=Grade.C, reason="x"
            )
        )


def test_c6_contract_needs_regional_manager_and_a_distributor(app: CustomersApplication) -> None:
    dealer = approved(app)
    contract: dict[str, Any] = {
        "contract_number": "HT-2026-001",
        "valid_from": date(2026, 1, 1),
        "valid_to": date(2026, 12, 31),
    }
    with pytest.raises(Forbidden) as refused:
        app.sign_contract(SignContract(actor=actor(Role.SALES_MANAGER), customer_id=dealer, **contract))
    assert refused.value.rule == "C6"
    result = app.sign_contract(
        SignContract(actor=actor(Role.REGIONAL_MANAGER), customer_id=dealer, **contract)
    )
    assert result["contract"]["valid_to"] == "2026-12-31"
    branch = approved(app, "branch")
    with pytest.raises(DomainError) as not_distributor:
        app.sign_contract(SignContract(actor=actor(Role.REGIONAL_MANAGER), customer_id=branch, **contract))
    assert not_distributor.value.rule == "C6"


def test_c7_branch_capital_limit_set_by_marketing_director(app: CustomersApplication) -> None:
    branch = approved(app, "branch")
    with pytest.raises(Forbidden):
        app.set_capital_limit(
            SetCapitalLimit(actor=actor(Role.SALES_MANAGER), customer_id=branch, capital_limit=Decimal("5"))
        )
    result = app.set_capital_limit(
        SetCapitalLimit(
            actor=actor(Role.MARKETING_DIRECTOR), customer_id=branch, capital_limit=Decimal("200000")
        )
    )
    assert result["capital_limit"] == "200000.00"
    with pytest.raises(DomainError) as refused:
        app.set_capital_limit(
            SetCapitalLimit(
                actor=actor(Role.MARKETING_DIRECTOR), customer_id=approved(app), capital_limit=Decimal("5")
            )
        )
    assert refused.value.rule == "C7"


def test_c8_prepayment_grants_next_years_discount(app: CustomersApplication) -> None:
    customer_id = approved(app)
    result = app.record_prepayment(
        RecordPrepayment(
            actor=actor(Role.FINANCE), customer_id=customer_id, year=2026, amount=Decimal("100000")
        )
    )
    assert Decimal(result["discount_pct"]) == Settings().prepayment_discount_pct


def test_c9_suspend_and_reinstate(app: CustomersApplication) -> None:
    customer_id = approved(app)
    manager = actor(Role.SALES_MANAGER)
    assert (
        app.suspend_customer(
            SuspendCustomer(actor=manager, customer_id=customer_id, reason="channel optimisation")
        )["status"]
        == "suspended"
    )
    with pytest.raises(InvalidState) as twice:
        app.suspend_customer(SuspendCustomer(actor=manager, customer_id=customer_id, reason="again"))
    assert twice.value.rule == "C9"
    assert (
        app.reinstate_customer(ReinstateCustomer(actor=manager, customer_id=customer_id, reason="improved"))[
            "status"
        ]
        == "approved"
    )


def test_idempotency_key_returns_first_reply_and_stores_nothing_new(app: CustomersApplication) -> None:
    first = register(app, idempotency_key="form-42")
    count = stored_events(app)
    second = register(app, idempotency_key="form-42")
    assert first == second
    assert stored_events(app) == count


def test_c5_grade_event_stored_as_version_1_still_loads(app: CustomersApplication) -> None:
    """Events evolve by versioned classes: a CustomerGraded stored before version 2 loads, upcast."""
    customer_id = approved(app)
    app.grade_customer(GradeCustomer(actor=actor(Role.SALES_MANAGER), customer_id=customer_id, grade=Grade.B))
    # version 2 added ``previous``
    before = stored_as_version_1(
        app,
        customer_id,
        "CustomerGraded",
        actor(Role.SALES_MANAGER, "sm-1"),
        grade=Grade.C,
        previous=None,
        reason="lower volume",
    )
    reloaded: Customer = app.repository.get(UUID(customer_id))
    assert reloaded.grade is Grade.C
    assert reloaded.version == before + 1


def test_c2_registration_records_its_lead_source(app: CustomersApplication) -> None:
    customer_id = register(app, lead_source="trade_fair")
    customer: Customer = app.repository.get(UUID(customer_id))
    assert customer.lead_source is LeadSource.TRADE_FAIR
    stored = app.recorder.select_events(UUID(customer_id))[0]
    assert app.mapper.transcoder.decode(stored.state)["class_version"] == 2


def test_c2_registration_stored_as_version_1_still_loads_without_a_lead_source(
    app: CustomersApplication,
) -> None:
    """The previous release stored CustomerRegistered without ``lead_source`` and without a class
    version; the upcaster lets it load (the rolling-upgrade drill has both releases writing)."""
    registered = UUID(register(app, lead_source="referral"))
    current = app.recorder.select_events(registered)[0]
    state = app.mapper.transcoder.decode(current.state)
    del state["class_version"], state["lead_source"]  # exactly what version 1 stored
    old_id = UUID(int=registered.int ^ 1)
    app.recorder.insert_events(
        [StoredEvent(old_id, current.originator_version, current.topic, app.mapper.transcoder.encode(state))]
    )
    reloaded: Customer = app.repository.get(old_id)
    assert reloaded.lead_source is None
    assert reloaded.company_name == app.repository.get(registered).company_name


def test_c2_published_registration_schema_accepts_both_versions(app: CustomersApplication) -> None:
    """Consumers (and the JS client, validating against docs/asyncapi) see versions 1 and 2 on the bus."""
    schema = data_model(Customer.CustomerRegistered)
    stored = app.recorder.select_events(UUID(register(app, lead_source="inbound")))[0]
    event = app.mapper.to_domain_event(stored)
    version_2 = to_envelope(event, "customers", 1).data
    version_1 = {k: v for k, v in version_2.items() if k != "lead_source"}
    assert schema.model_validate(version_2).lead_source == "inbound"  # type: ignore[attr-defined]
    assert schema.model_validate(version_1).lead_source is None  # type: ignore[attr-defined]


def test_c2_vault_round_trip_erase_and_tamper() -> None:
    vault = InMemoryVault()
    vault.create_key("c-1")
    sealed = vault.encrypt("c-1", "phone", "0571-1234")
    assert sealed.startswith("enc:v1:") and "0571" not in sealed
    assert vault.decrypt("c-1", "phone", sealed) == "0571-1234"
    with pytest.raises(TamperedValue):  # bound to its field: not readable as another field
        vault.decrypt("c-1", "address", sealed)
    tampered = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")
    with pytest.raises(TamperedValue):
        vault.decrypt("c-1", "phone", tampered)
    vault.erase("c-1")
    assert vault.decrypt("c-1", "phone", sealed) is None


def test_c2_erasing_personal_data_keeps_the_customer(app: CustomersApplication) -> None:
    customer_id = register(app)
    before = stored_events(app)
    with pytest.raises(Forbidden) as refused:
        app.erase_personal_data(
            ErasePersonalData(actor=actor(Role.SALES_VP), customer_id=customer_id, reason="request")
        )
    assert refused.value.rule == "C2"
    assert stored_events(app) == before
    reply = app.erase_personal_data(
        ErasePersonalData(actor=actor(Role.GENERAL_MANAGER), customer_id=customer_id, reason="request")
    )
    assert "legal_representative" not in reply  # command replies never carry the personal data
    customer = app.get_customer(GetCustomer(customer_id=customer_id))
    assert customer["personal_data_erased"] is True
    assert (customer["legal_representative"], customer["phone"], customer["address"]) == (None, None, None)
    assert customer["company_name"] == "杭州华顺贸易有限公司"
    assert stored_events(app) == before + 1
