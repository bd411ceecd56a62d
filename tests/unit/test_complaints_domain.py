"""Complaints domain and application on the in-memory (POPO) store: P1–P7, no I/O."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from services.complaints import commands as c
from services.complaints.application import SYSTEM, ComplaintsApplication
from services.complaints.domain import Complaint, ComplaintType, Severity, Stage, fine_for, months_before
from shared.aggregate import Meta
from shared.clock import FixedClock
from shared.customer_directory import InMemoryCustomerDirectory
from shared.errors import DomainError, Forbidden, InvalidState
from shared.settings import Settings
from tests.builders import CLERK, GM, SALES_MANAGER, VP

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
FINES = Settings().complaint_fines


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def app(clock: FixedClock) -> Iterator[ComplaintsApplication]:
    application = ComplaintsApplication(
        Settings(), clock, InMemoryCustomerDirectory(), env={"PERSISTENCE_MODULE": "eventsourcing.popo"}
    )
    yield application
    application.close()


def meta(actor: dict[str, str], at: datetime = T0) -> Meta:
    return Meta(actor_id=actor["id"], actor_role=actor["role"], correlation_id="c", causation_id="c", at=at)


def service(app: ComplaintsApplication, staff_id: str | None = "sp-1", **overrides: Any) -> str:
    body = {
        "actor": CLERK,
        "complaint_type": "service",
        "customer_id": "cust-1",
        "staff_id": staff_id,
        "description": "rude",
        "assigned_to": "vp-1",
    } | overrides
    return str(app.log_complaint(c.LogComplaint.model_validate(body))["complaint_id"])


def quality(app: ComplaintsApplication, **overrides: Any) -> str:
    body = {
        "actor": CLERK,
        "complaint_type": "quality",
        "customer_id": "cust-2",
        "order_id": "ord-2",
        "product_name": "valve",
        "spec": "DN50",
        "quantity": 4,
        "purchase_date": "2026-10-01",
        "description": "leaks",
        "assigned_to": "sm-1",
    } | overrides
    return str(app.log_complaint(c.LogComplaint.model_validate(body))["complaint_id"])


def verify(app: ComplaintsApplication, cid: str, actor: dict[str, str] = VP, **fields: Any) -> dict[str, Any]:
    return app.verify_complaint(
        c.VerifyComplaint.model_validate({"actor": actor, "complaint_id": cid} | fields)
    )


def events(app: ComplaintsApplication, cid: str) -> list[str]:
    return [type(e).__name__ for e in app.repository.event_store.get(UUID(cid))]


def test_p1_complaint_types_are_quality_and_service() -> None:
    assert {t.value for t in ComplaintType} == {"quality", "service"}
    with pytest.raises(ValidationError):
        c.LogComplaint.model_validate(
            {
                "actor": CLERK,
                "complaint_type": "price",
                "customer_id": "x",
                "description": "d",
                "assigned_to": "a",
            }
        )


def test_p2_quality_complaint_needs_registration_fields_and_the_sales_manager(
    app: ComplaintsApplication,
) -> None:
    with pytest.raises(DomainError) as error:
        quality(app, spec=None, quantity=None)
    assert error.value.rule == "P2" and error.value.details["missing"] == ["spec", "quantity"]
    with pytest.raises(DomainError) as error:
        quality(app, assigned_role="general_manager")
    assert error.value.rule == "P2"
    cid = quality(app, order_id=None, receipt_number="FH-1")  # a receipt number stands for the order
    assert app.get_complaint(c.GetComplaint(complaint_id=cid))["assigned_role"] == "sales_manager"


def test_p2_service_complaint_names_the_staff_member(app: ComplaintsApplication) -> None:
    with pytest.raises(DomainError) as error:
        service(app, staff_id=None)
    assert error.value.rule == "P2"
    with pytest.raises(DomainError) as error:
        service(app, assigned_role="sales_supervisor")
    assert error.value.rule == "P2"
    with pytest.raises(Forbidden) as refused:
        service(app, actor={"id": "bot", "role": "system"})
    assert refused.value.rule == "P2"


def test_p3_quality_workflow_order_is_enforced(app: ComplaintsApplication) -> None:
    cid = quality(app)
    step = {"actor": SALES_MANAGER, "complaint_id": cid}
    with pytest.raises(DomainError) as error:
        app.follow_up(c.FollowUp.model_validate(step | {"notes": "n"}))
    assert error.value.rule == "P3"
    app.start_investigation(c.StartInvestigation.model_validate(step | {"departments_notified": ["qa"]}))
    with pytest.raises(DomainError) as error:
        verify(app, cid, GM, valid=True)  # the cause found is part of the decision
    assert (error.value.rule, error.value.details["field"]) == ("P3", "cause")
    verify(app, cid, GM, valid=False, cause="misuse by the customer")
    with pytest.raises(DomainError) as error:
        app.resolve_complaint(
            c.ResolveComplaint.model_validate(step | {"resolution": "repair", "amount": "5"})
        )
    assert error.value.rule == "P3"
    app.resolve_complaint(c.ResolveComplaint.model_validate(step | {"resolution": "none"}))
    app.inform_customer(c.InformCustomer.model_validate(step | {"satisfaction": "dissatisfied"}))
    app.follow_up(c.FollowUp.model_validate(step | {"notes": "called back"}))
    assert app.close_complaint(c.CloseComplaint.model_validate(step))["status"] == "closed"


def test_p4_service_workflow_order_is_enforced(app: ComplaintsApplication) -> None:
    cid = service(app)
    with pytest.raises(DomainError) as error:
        app.propose_handling(
            c.ProposeHandling.model_validate({"actor": VP, "complaint_id": cid, "proposal": "p"})
        )
    assert error.value.rule == "P4"
    with pytest.raises(DomainError) as error:
        verify(app, cid, valid=True)  # a valid one states its severity
    assert error.value.rule == "P5"
    verify(app, cid, GM, valid=True, severity="minor")
    with pytest.raises(InvalidState) as error:
        verify(app, cid, GM, valid=True, severity="minor")
    assert error.value.rule == "P4"


@pytest.mark.parametrize(("severity", "amount"), [("minor", "100"), ("moderate", "150"), ("serious", "200")])
def test_p5_fine_by_severity(app: ComplaintsApplication, severity: str, amount: str) -> None:
    cid = service(app, staff_id=f"sp-{severity}")
    penalty = verify(app, cid, valid=True, severity=severity)["penalty"]
    assert Decimal(penalty["amount"]) == Decimal(amount) and penalty["public_criticism"] is True
    assert events(app, cid) == ["ComplaintLogged", "ComplaintVerified", "PenaltyIssued"]


@given(amount=st.decimals(min_value=0, max_value=1000, places=2))
def test_p5_fine_outside_100_to_200_is_refused(amount: Decimal) -> None:
    low, high = Decimal("100"), Decimal("200")
    if low <= amount <= high:
        assert fine_for(Severity.MINOR, FINES, low, high, amount) == amount
    else:
        with pytest.raises(DomainError) as error:
            fine_for(Severity.MINOR, FINES, low, high, amount)
        assert error.value.rule == "P5"


def test_p5_third_valid_complaint_within_12_months(app: ComplaintsApplication, clock: FixedClock) -> None:
    flags = []
    for days in (0, 200, 364):
        clock.set(T0 + timedelta(days=days))
        flags.append(
            verify(app, service(app, staff_id="sp-3"), valid=True, severity="minor")["dismissal_recommended"]
        )
    assert flags == [False, False, True]
    clock.set(
        T0 + timedelta(days=366)
    )  # the first has left the window: two valid within 12 months + this = 3
    assert verify(app, service(app, staff_id="sp-3"), valid=True, severity="minor")["dismissal_recommended"]
    clock.set(T0 + timedelta(days=366 + 365))  # only the last one is within 12 months
    assert not verify(app, service(app, staff_id="sp-3"), valid=True, severity="minor")[
        "dismissal_recommended"
    ]


def test_p5_severe_case_recommends_dismissal_at_once(app: ComplaintsApplication) -> None:
    result = verify(app, service(app, staff_id="sp-severe"), valid=True, severity="severe")
    assert result["dismissal_recommended"] and Decimal(result["penalty"]["amount"]) == Decimal("200")


def test_p5_months_before_is_calendar_months() -> None:
    assert months_before(datetime(2026, 3, 31, tzinfo=UTC), 1) == datetime(2026, 2, 28, tzinfo=UTC)
    assert months_before(datetime(2024, 2, 29, tzinfo=UTC), 12) == datetime(2023, 2, 28, tzinfo=UTC)
    assert months_before(datetime(2026, 1, 15, tzinfo=UTC), 12) == datetime(2025, 1, 15, tzinfo=UTC)


def test_p6_no_penalty_for_a_quality_complaint(app: ComplaintsApplication) -> None:
    cid = quality(app, staff_id="sp-q")
    app.start_investigation(
        c.StartInvestigation.model_validate(
            {"actor": SALES_MANAGER, "complaint_id": cid, "departments_notified": ["qa"]}
        )
    )
    with pytest.raises(Forbidden) as refused:
        verify(app, cid, VP, valid=True, cause="defect")
    assert refused.value.rule == "P6"
    verify(app, cid, GM, valid=True, cause="defect")
    complaint: Complaint = app.repository.get(UUID(cid))
    with pytest.raises(DomainError) as error:
        complaint.issue_penalty(Decimal("100"), meta(GM))
    assert error.value.rule == "P6"
    assert app.get_staff_record(c.GetStaffRecord(staff_id="sp-q"))["penalties"] == []


def test_p7_deadlines_from_settings_raised_once(app: ComplaintsApplication, clock: FixedClock) -> None:
    cid = service(app)
    result = app.get_complaint(c.GetComplaint(complaint_id=cid))
    assert result["acknowledge_by"].startswith("2026-11-21T02:00") and result["resolve_by"].startswith(
        "2026-11-27"
    )
    clock.advance(timedelta(days=1))
    assert app.scan_overdue() == 0  # exactly at the deadline is still in time
    clock.advance(timedelta(seconds=1))
    assert app.scan_overdue() == 1
    assert app.scan_overdue() == 0
    with pytest.raises(InvalidState) as error:
        app.raise_overdue(c.RaiseOverdue(actor=SYSTEM, complaint_id=cid, stage=Stage.ACKNOWLEDGE.value))
    assert error.value.rule == "P7"
    verify(app, cid, valid=False)  # handled late; still unresolved
    clock.advance(timedelta(days=7))
    assert app.scan_overdue() == 1
    assert events(app, cid).count("ComplaintOverdue") == 2


def test_p7_acknowledged_in_time_is_not_overdue(app: ComplaintsApplication, clock: FixedClock) -> None:
    cid = service(app)
    app.acknowledge_complaint(c.AcknowledgeComplaint.model_validate({"actor": VP, "complaint_id": cid}))
    with pytest.raises(InvalidState):
        app.acknowledge_complaint(c.AcknowledgeComplaint.model_validate({"actor": VP, "complaint_id": cid}))
    clock.advance(timedelta(days=2))
    assert app.scan_overdue() == 0
