"""Customer rules of a customer's later life (C5 and C8 rev 2, C10–C13) on the application with the
in-memory (POPO) store; ``tests/integration/test_customers_lifecycle.py`` runs them over the bus."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import IntegrityError

from services.customers import commands as c
from services.customers.application import CustomersApplication
from services.customers.domain import Customer, Grade, Rating, SecurityKind, TerminationReason
from shared.contracts import Role
from shared.errors import DomainError, Forbidden, InvalidState
from tests.unit import test_customers_domain
from tests.unit.test_customers_domain import (
    NOW,
    actor,
    approved,
    register,
    stored_as_version_1,
    stored_events,
)

app = test_customers_domain.app  # the fixture of the C1–C9 tests

TERMS: dict[str, Any] = {
    "payment_terms_days": 45,
    "delivery_terms": "FOB Hangzhou",
    "product_scope": ["VALVE-DN50", "PUMP-100"],
    "annual_volume": "1200000.00",
}


def events_of(app: CustomersApplication, customer_id: str) -> list[Any]:
    return list(app.events.get(UUID(customer_id)))


def last_event(app: CustomersApplication, customer_id: str) -> Any:
    return events_of(app, customer_id)[-1]


def refused(
    app: CustomersApplication, error: type[DomainError], rule: str, call: Any, *args: Any
) -> DomainError:
    """``call(*args)`` is refused with ``error`` naming ``rule``, and stores nothing."""
    before = stored_events(app)
    with pytest.raises(error) as raised:
        call(*args)
    assert raised.value.rule == rule, raised.value
    assert stored_events(app) == before
    return raised.value


def with_contract(app: CustomersApplication, terms: dict[str, Any] | None = None) -> str:
    customer_id = approved(app)
    app.sign_contract(
        c.SignContract(
            actor=actor(Role.REGIONAL_MANAGER),
            customer_id=customer_id,
            contract_number=f"HT-{customer_id[:6]}",
            valid_from=date(2026, 1, 1),
            valid_to=date(2026, 12, 31),
            terms=c.ContractTermsModel.model_validate(terms or TERMS),
        )
    )
    return customer_id


# C5 rev 2 ----------------------------------------------------------------------------------------
def test_c5_prospect_may_be_graded_d_before_approval_and_nothing_else(app: CustomersApplication) -> None:
    prospect = register(app)
    manager = actor(Role.SALES_MANAGER)
    attempt = c.GradeCustomer(actor=manager, customer_id=prospect, grade=Grade.B)
    refused(app, InvalidState, "C5", app.grade_customer, attempt)
    graded = app.grade_customer(c.GradeCustomer(actor=manager, customer_id=prospect, grade=Grade.D))
    assert (graded["status"], graded["grade"]) == ("prospect", "D")


# C8 rev 2 ----------------------------------------------------------------------------------------
def test_c8_prepayment_event_carries_the_tier_and_the_year_it_applies_in(app: CustomersApplication) -> None:
    customer_id = approved(app)
    result = app.record_prepayment(
        c.RecordPrepayment(
            actor=actor(Role.FINANCE), customer_id=customer_id, year=2026, amount=Decimal("100000")
        )
    )
    event = last_event(app, customer_id)
    assert type(event).__name__ == "PrepaymentRecorded"
    assert (event.year, event.discount_year, event.discount_pct) == (
        2026,
        2027,
        app.settings.prepayment_discount_pct,
    )
    assert result["discount_tiers"] == {"2027": str(app.settings.prepayment_discount_pct)}


# C10 ---------------------------------------------------------------------------------------------
def test_c10_salesperson_edits_own_customers_file_with_reason_and_history(app: CustomersApplication) -> None:
    customer_id = register(app)  # sp-1's customer
    contacts = [{"name": "Zhang San", "title": "buyer", "phone": "139-0000"}]
    app.edit_customer_file(
        c.EditCustomerFile(
            actor=actor(Role.SALESPERSON, "sp-1"),
            customer_id=customer_id,
            reason="moved offices",
            address="88 New Road",
            contact_persons=contacts,  # type: ignore[arg-type]
            needs="DN50 valves every quarter",
        )
    )
    stored: Customer = app.repository.get(UUID(customer_id))
    assert stored.address.startswith("enc:v1:")  # the new address is sealed like the first
    details = app.get_customer(c.GetCustomer(customer_id=customer_id))
    assert (details["address"], details["contact_persons"], details["needs"]) == (
        "88 New Road",
        contacts,
        "DN50 valves every quarter",
    )
    history = app.customer_file_history(c.CustomerFileHistory(customer_id=customer_id))["changes"]
    assert len(history) == 1
    assert history[0]["reason"] == "moved offices"
    assert history[0]["previous"] == {
        "address": "杭州市西湖区文三路 1 号",
        "contact_persons": None,
        "needs": "",
    }
    assert history[0]["changes"]["address"] == "88 New Road"


def test_c10_only_the_customers_own_salesperson_or_above_edits_the_file(app: CustomersApplication) -> None:
    customer_id = register(app)
    edit: dict[str, Any] = {"customer_id": customer_id, "reason": "new bank", "bank": "Bank of China"}
    attempt = c.EditCustomerFile(actor=actor(Role.SALESPERSON, "sp-2"), **edit)
    refused(app, Forbidden, "C10", app.edit_customer_file, attempt)
    refused(
        app, Forbidden, "C10", app.edit_customer_file, c.EditCustomerFile(actor=actor(Role.FINANCE), **edit)
    )
    result = app.edit_customer_file(c.EditCustomerFile(actor=actor(Role.SALES_SUPERVISOR), **edit))
    assert result["version"] == 2


def test_c10_an_edit_that_changes_nothing_is_refused(app: CustomersApplication) -> None:
    customer_id = register(app)
    refused(
        app,
        DomainError,
        "C10",
        lambda: app.edit_customer_file(
            c.EditCustomerFile(
                actor=actor(Role.SALESPERSON, "sp-1"),
                customer_id=customer_id,
                reason="x",
                phone="0571-88000000",
            )
        ),
    )


def test_c10_reassignment_needs_sales_supervisor_and_names_the_previous_salesperson(
    app: CustomersApplication,
) -> None:
    customer_id = approved(app)
    body: dict[str, Any] = {
        "customer_id": customer_id,
        "salesperson_id": "sp-9",
        "reason": "territory change",
    }
    attempt = c.ReassignCustomer(actor=actor(Role.SALESPERSON), **body)
    refused(app, Forbidden, "C10", app.reassign_customer, attempt)
    result = app.reassign_customer(c.ReassignCustomer(actor=actor(Role.SALES_SUPERVISOR), **body))
    assert result["salesperson_id"] == "sp-9"
    event = last_event(app, customer_id)
    assert (type(event).__name__, event.salesperson_id, event.previous) == (
        "SalespersonReassigned",
        "sp-9",
        "sp-1",
    )


def test_c10_all_of_a_leaving_salespersons_customers_in_one_command_each_its_own_event(
    app: CustomersApplication,
) -> None:
    leaving = [register(app, salesperson_id="sp-leaving") for _ in range(3)]
    already_moved = register(app, salesperson_id="sp-leaving")
    app.reassign_customer(
        c.ReassignCustomer(
            actor=actor(Role.SALES_SUPERVISOR), customer_id=already_moved, salesperson_id="sp-3", reason="x"
        )
    )
    came_to_them = register(app, salesperson_id="sp-4")
    app.reassign_customer(
        c.ReassignCustomer(
            actor=actor(Role.SALES_SUPERVISOR),
            customer_id=came_to_them,
            salesperson_id="sp-leaving",
            reason="x",
        )
    )
    others = register(app, salesperson_id="sp-staying")
    command = c.ReassignSalespersonCustomers(
        actor=actor(Role.SALES_SUPERVISOR),
        from_salesperson_id="sp-leaving",
        to_salesperson_id="sp-new",
        reason="sp-leaving left the company",
    )
    refused(
        app,
        Forbidden,
        "C10",
        lambda: app.reassign_salesperson_customers(
            command.model_copy(update={"actor": actor(Role.SALESPERSON)})
        ),
    )
    before = stored_events(app)
    result = app.reassign_salesperson_customers(command)
    assert sorted(result["customer_ids"]) == sorted([*leaving, came_to_them])
    assert result["count"] == 4
    assert stored_events(app) == before + 4  # one event per customer
    for customer_id in [*leaving, came_to_them]:
        assert app.get_customer(c.GetCustomer(customer_id=customer_id))["salesperson_id"] == "sp-new"
    assert app.get_customer(c.GetCustomer(customer_id=others))["salesperson_id"] == "sp-staying"
    again = app.reassign_salesperson_customers(command)
    assert again["count"] == 0


def test_c10_region_move_by_regional_manager_keeps_the_code(app: CustomersApplication) -> None:
    customer_id = approved(app)
    code = app.get_customer(c.GetCustomer(customer_id=customer_id))["code"]
    body: dict[str, Any] = {"customer_id": customer_id, "region": "WEST", "reason": "moved its warehouse"}
    attempt = c.MoveCustomerRegion(actor=actor(Role.SALES_MANAGER), **body)
    refused(app, Forbidden, "C10", app.move_customer_region, attempt)
    moved = app.move_customer_region(c.MoveCustomerRegion(actor=actor(Role.REGIONAL_MANAGER), **body))
    assert (moved["region"], moved["code"]) == ("WEST", code)
    assert app.get_customer(c.GetCustomer(code=code))["customer_id"] == customer_id


# C11 ---------------------------------------------------------------------------------------------
def revise(
    app: CustomersApplication, customer_id: str, limit: str, rating: Rating = Rating.GOOD
) -> dict[str, Any]:
    return app.revise_credit(
        c.ReviseCredit(
            actor=actor(Role.FINANCE),
            customer_id=customer_id,
            rating=rating,
            credit_limit=Decimal(limit),
            notes="special investigation",
        )
    )


def test_c11_a_lower_limit_applies_at_once(app: CustomersApplication) -> None:
    customer_id = approved(app)  # limit 9000
    result = revise(app, customer_id, "5000", Rating.FAIR)
    assert (result["credit_limit"], result["rating"], result["pending_credit_limit"]) == (
        "5000.00",
        "fair",
        None,
    )


def test_c11_a_higher_limit_waits_for_the_sales_managers_approval(app: CustomersApplication) -> None:
    customer_id = approved(app)
    result = revise(app, customer_id, "20000")
    assert (result["credit_limit"], result["pending_credit_limit"]) == ("9000.00", "20000.00")
    approve = c.ApproveCreditRaise(actor=actor(Role.SALES_SUPERVISOR), customer_id=customer_id)
    refused(app, Forbidden, "C11", lambda: app.approve_credit_raise(approve))
    raised = app.approve_credit_raise(approve.model_copy(update={"actor": actor(Role.SALES_MANAGER)}))
    assert (raised["credit_limit"], raised["pending_credit_limit"]) == ("20000.00", None)
    attempt = approve.model_copy(update={"actor": actor(Role.SALES_MANAGER)})
    refused(app, InvalidState, "C11", app.approve_credit_raise, attempt)


def test_c11_poor_rating_on_an_approved_customer_holds_its_orders_until_lifted(
    app: CustomersApplication,
) -> None:
    customer_id = approved(app)
    result = revise(app, customer_id, "0", Rating.POOR)
    assert (result["status"], result["orders_held"]) == ("approved", True)
    held = last_event(app, customer_id)
    assert (type(held).__name__, held.rule) == ("CustomerOrdersHeld", "C11")
    lift = c.LiftCreditHold(actor=actor(Role.SALESPERSON), customer_id=customer_id, reason="debts paid")
    refused(app, Forbidden, "C11", lambda: app.lift_credit_hold(lift))
    lifted = app.lift_credit_hold(lift.model_copy(update={"actor": actor(Role.SALES_MANAGER)}))
    assert lifted["orders_held"] is False
    assert type(last_event(app, customer_id)).__name__ == "CustomerOrdersReleased"


def test_c11_securities_with_value_holder_and_expiry_by_sales_manager(app: CustomersApplication) -> None:
    customer_id = approved(app)
    security: dict[str, Any] = {
        "customer_id": customer_id,
        "security_kind": "mortgage",
        "value": Decimal("300000"),
        "holder": "Hangzhou warehouse deed",
        "expires_on": date(2027, 6, 30),
    }
    attempt = c.RecordSecurity(actor=actor(Role.SALES_SUPERVISOR), **security)
    refused(app, Forbidden, "C11", app.record_security, attempt)
    refused(
        app,
        DomainError,
        "C11",
        lambda: app.record_security(
            c.RecordSecurity(actor=actor(Role.SALES_MANAGER), **security | {"expires_on": date(2026, 11, 1)})
        ),
    )
    result = app.record_security(c.RecordSecurity(actor=actor(Role.SALES_MANAGER), **security))
    [held] = result["securities"]
    assert (held["security_kind"], held["value"], held["holder"], held["expires_on"]) == (
        "mortgage",
        "300000.00",
        "Hangzhou warehouse deed",
        "2027-06-30",
    )
    released = app.release_security(
        c.ReleaseSecurity(
            actor=actor(Role.SALES_MANAGER),
            customer_id=customer_id,
            security_id=held["security_id"],
            reason="paid",
        )
    )
    assert released["securities"] == []


# C12 ---------------------------------------------------------------------------------------------
def review(app: CustomersApplication, customer_id: str, role: Role, approve: bool = True) -> dict[str, Any]:
    return app.review_contract_change(
        c.ReviewContractChange(actor=actor(role), customer_id=customer_id, approve=approve, note="ok")
    )


def propose(app: CustomersApplication, customer_id: str, **terms: Any) -> dict[str, Any]:
    return app.propose_contract_change(
        c.ProposeContractChange(
            actor=actor(Role.SALESPERSON),
            customer_id=customer_id,
            terms=c.ContractTermsModel.model_validate(TERMS | terms),
            reason="customer grows",
        )
    )


def test_c12_contract_carries_its_terms(app: CustomersApplication) -> None:
    customer_id = with_contract(app)
    contract = app.get_contract(c.GetContract(customer_id=customer_id))
    assert contract["terms"] == TERMS
    assert last_event(app, customer_id).terms["product_scope"] == ["VALVE-DN50", "PUMP-100"]


def test_c12_change_approved_in_order_applies_and_old_terms_stay_in_history(
    app: CustomersApplication,
) -> None:
    customer_id = with_contract(app)
    propose(app, customer_id, payment_terms_days=60, product_scope=None)
    for role in (Role.SALES_SUPERVISOR, Role.REGIONAL_MANAGER):
        assert review(app, customer_id, role)["terms"]["payment_terms_days"] == 45  # not yet
    approved_ = review(app, customer_id, Role.GENERAL_MANAGER)
    assert (approved_["terms"]["payment_terms_days"], approved_["terms"]["product_scope"]) == (60, None)
    contract = app.get_contract(c.GetContract(customer_id=customer_id))
    assert contract["pending_change"] is None
    [past] = contract["history"]
    assert (past["terms"], past["ended"], past["applied_until"]) == (TERMS, "changed", NOW.isoformat())
    event = last_event(app, customer_id)
    assert type(event).__name__ == "ContractChangeApproved"
    assert event.previous_terms["payment_terms_days"] == 45


def test_c12_a_change_approved_out_of_order_is_refused(app: CustomersApplication) -> None:
    customer_id = with_contract(app)
    propose(app, customer_id, payment_terms_days=60)
    for early in (Role.GENERAL_MANAGER, Role.REGIONAL_MANAGER):
        error = refused(app, Forbidden, "C12", lambda role=early: review(app, customer_id, role))
        assert error.details["awaits"] == "supervisor_review"
    review(app, customer_id, Role.SALES_SUPERVISOR)
    refused(app, Forbidden, "C12", lambda: review(app, customer_id, Role.GENERAL_MANAGER))
    refused(app, Forbidden, "C12", lambda: review(app, customer_id, Role.SALES_SUPERVISOR))  # not twice
    refused(
        app, InvalidState, "C12", lambda: propose(app, customer_id, payment_terms_days=90)
    )  # one at a time


def test_c12_a_refused_change_leaves_the_terms(app: CustomersApplication) -> None:
    customer_id = with_contract(app)
    propose(app, customer_id, payment_terms_days=90)
    review(app, customer_id, Role.SALES_SUPERVISOR)
    result = review(app, customer_id, Role.REGIONAL_MANAGER, approve=False)
    assert result["terms"] == TERMS
    assert type(last_event(app, customer_id)).__name__ == "ContractChangeRejected"
    refused(app, InvalidState, "C12", lambda: review(app, customer_id, Role.GENERAL_MANAGER))


def test_c12_termination_needs_the_regional_manager_then_the_general_manager(
    app: CustomersApplication,
) -> None:
    customer_id = with_contract(app)
    approve = c.ApproveContractTermination(actor=actor(Role.GENERAL_MANAGER), customer_id=customer_id)
    refused(app, InvalidState, "C12", lambda: app.approve_contract_termination(approve))  # not asked yet
    ask = c.RequestContractTermination(
        actor=actor(Role.SALES_MANAGER),
        customer_id=customer_id,
        reason=TerminationReason.CUSTOMER_BREACH,
        note="unpaid",
    )
    refused(app, Forbidden, "C12", lambda: app.request_contract_termination(ask))
    app.request_contract_termination(ask.model_copy(update={"actor": actor(Role.REGIONAL_MANAGER)}))
    refused(
        app,
        Forbidden,
        "C12",
        lambda: app.approve_contract_termination(
            approve.model_copy(update={"actor": actor(Role.REGIONAL_MANAGER)})
        ),
    )
    result = app.approve_contract_termination(approve)
    assert (result["contract"], result["terms"]) == (None, None)
    event = last_event(app, customer_id)
    assert (type(event).__name__, event.reason) == ("ContractTerminated", "customer_breach")
    assert app.get_contract(c.GetContract(customer_id=customer_id))["history"][0]["ended"] == (
        "terminated: customer_breach"
    )


def test_c12_contract_signed_event_stored_as_version_1_still_loads(app: CustomersApplication) -> None:
    """ContractSigned version 2 added the terms: a version 1 event loads with none agreed."""
    customer_id = approved(app)
    contract = {"contract_number": "HT-OLD", "valid_from": date(2025, 1, 1), "valid_to": date(2026, 12, 31)}
    stored_as_version_1(
        app, customer_id, "ContractSigned", actor(Role.REGIONAL_MANAGER, "rm-1"), **contract, terms=None
    )
    reloaded: Customer = app.repository.get(UUID(customer_id))
    assert reloaded.contract == {
        "contract_number": "HT-OLD",
        "valid_from": "2025-01-01",
        "valid_to": "2026-12-31",
    }
    assert reloaded.terms is None
    assert last_event(app, customer_id).terms is None


# C13 ---------------------------------------------------------------------------------------------
def plan(app: CustomersApplication, customer_id: str, role: Role = Role.SALES_MANAGER) -> dict[str, Any]:
    return app.write_key_account_plan(
        c.WriteKeyAccountPlan(
            actor=actor(role),
            customer_id=customer_id,
            year=2027,
            sales_target=Decimal("5000000"),
            why_key="largest dealer of the east",
            actions=["quarterly visit by the GM", "priority production slots"],
        )
    )


def test_c13_only_an_a_customer_has_a_key_account_plan_written_by_the_sales_manager(
    app: CustomersApplication,
) -> None:
    customer_id = approved(app)
    refused(app, InvalidState, "C13", lambda: plan(app, customer_id))  # no grade yet
    app.grade_customer(
        c.GradeCustomer(actor=actor(Role.SALES_MANAGER), customer_id=customer_id, grade=Grade.A)
    )
    refused(app, Forbidden, "C13", lambda: plan(app, customer_id, Role.GENERAL_MANAGER))
    written = plan(app, customer_id)["key_account_plan"]
    assert (written["sales_target"], written["advice"]) == ("5000000.00", {})


def test_c13_customer_service_and_general_manager_add_their_own_advice(app: CustomersApplication) -> None:
    customer_id = approved(app)
    app.grade_customer(
        c.GradeCustomer(actor=actor(Role.SALES_MANAGER), customer_id=customer_id, grade=Grade.A)
    )
    advice = c.AdviseKeyAccountPlan(
        actor=actor(Role.CUSTOMER_SERVICE_MANAGER), customer_id=customer_id, advice="x"
    )
    refused(app, InvalidState, "C13", lambda: app.advise_key_account_plan(advice))  # no plan yet
    plan(app, customer_id)
    attempt = advice.model_copy(update={"actor": actor(Role.SALES_MANAGER)})
    refused(app, Forbidden, "C13", app.advise_key_account_plan, attempt)
    app.advise_key_account_plan(advice.model_copy(update={"advice": "a service hotline of its own"}))
    result = app.advise_key_account_plan(
        advice.model_copy(update={"actor": actor(Role.GENERAL_MANAGER, "gm-1"), "advice": "visit in March"})
    )
    given = {role: part["advice"] for role, part in result["key_account_plan"]["advice"].items()}
    assert given == {
        "customer_service_manager": "a service hotline of its own",
        "general_manager": "visit in March",
    }


def test_c11_a_redelivered_security_keeps_its_first_id_and_is_stored_once(app: CustomersApplication) -> None:
    # The security's id is drawn inside the decision (a retry after a write conflict draws a fresh one, as
    # nothing was stored); a redelivery of the same command must answer the first reply, not a second id.
    customer_id = approved(app)
    record = c.RecordSecurity(
        actor=actor(Role.SALES_MANAGER),
        idempotency_key="security-1",
        customer_id=customer_id,
        security_kind=SecurityKind.MORTGAGE,
        value=Decimal("300000"),
        holder="Hangzhou warehouse deed",
        expires_on=date(2027, 6, 30),
    )
    first = app.record_security(record)
    before = stored_events(app)
    assert app.record_security(record) == first
    assert stored_events(app) == before
    recorded = [e for e in events_of(app, customer_id) if type(e).__name__ == "SecurityRecorded"]
    assert [e.security_id for e in recorded] == [s["security_id"] for s in first["securities"]]


def test_c11_a_security_decided_again_after_a_write_conflict_is_stored_once_with_the_id_it_answers(
    app: CustomersApplication, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer_id = approved(app)
    saves: list[int] = []
    save = app.record

    def conflicting_once(*args: Any, **kwargs: Any) -> Any:
        saves.append(1)
        if len(saves) == 1:
            raise IntegrityError("another writer saved the customer first")
        return save(*args, **kwargs)

    monkeypatch.setattr(app, "record", conflicting_once)
    reply = app.record_security(
        c.RecordSecurity(
            actor=actor(Role.SALES_MANAGER),
            customer_id=customer_id,
            security_kind=SecurityKind.MORTGAGE,
            value=Decimal("300000"),
            holder="Hangzhou warehouse deed",
            expires_on=date(2027, 6, 30),
        )
    )
    assert len(saves) == 2
    [recorded] = [e for e in events_of(app, customer_id) if type(e).__name__ == "SecurityRecorded"]
    assert [s["security_id"] for s in reply["securities"]] == [recorded.security_id]
