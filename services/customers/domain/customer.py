"""The customer aggregate: onboarding, credit, approval and code, grade, limits, suspension (C1–C9), and
the rules of its later life kept in their own modules (C10 upkeep, C11 credit, C6/C12 contract, C13 key
account), whose methods are taken into the class here, so every event stays the customer's (each ``@event``
method brings its event class along: ``SalesAggregate`` names it on the class).

Pure: no I/O. Each command method checks its rule and raises ``DomainError`` before any event.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from services.customers.domain import contract, credit, key_account, upkeep
from services.customers.domain.code_sequence import CodeSequence
from services.customers.domain.values import CREDIT_INVESTIGATORS, SALES_STAFF
from shared import customer_contract as published
from shared.aggregate import Meta, SalesAggregate, at_least, require_role, require_status
from shared.contracts import Role
from shared.customer_contract import ContractTerms, Grade, Kind, LeadSource, Rating, Status
from shared.errors import DomainError, InvalidState
from shared.events import aggregate_event


class Customer(SalesAggregate):
    TOPIC = "customers.Customer"

    CustomerRegistered = aggregate_event(published.CustomerRegistered)

    @event(CustomerRegistered)
    def __init__(
        self,
        kind: Kind,
        region: str,
        salesperson_id: str,
        company_name: str,
        founding_date: date,
        legal_representative: str,
        registered_capital: Decimal,
        address: str,
        phone: str,
        business_scale: str,
        staff_count: int,
        annual_sales: Decimal,
        main_products: list[str],
        preferred_payment_terms: str,
        bank: str,
        meta: Meta,
        lead_source: LeadSource | None = None,
    ) -> None:
        """C2: a prospect registered with the new-customer application (新客户认定申请表)."""
        self.kind = Kind(kind)
        self.region = region
        self.salesperson_id = salesperson_id
        self.company_name = company_name
        self.founding_date = founding_date
        self.legal_representative = legal_representative
        self.registered_capital = registered_capital
        self.address = address
        self.phone = phone
        self.business_scale = business_scale
        self.staff_count = staff_count
        self.annual_sales = annual_sales
        self.main_products = list(main_products)  # copied: the event keeps its own list
        self.preferred_payment_terms = preferred_payment_terms
        self.bank = bank
        self.lead_source = LeadSource(lead_source) if lead_source else None
        self.status = Status.PROSPECT
        self.rating: Rating | None = None
        self.credit_limit = Decimal("0.00")
        self.code: str | None = None
        self.grade: Grade | None = None
        self.contract: dict[str, str] | None = None
        self.capital_limit: Decimal | None = None
        self.prepayments: dict[int, Decimal] = {}
        self.discount_pct = Decimal("0")
        self.rejection_reason: str | None = None
        self.personal_data_erased = False
        # C10: the file's later fields, and every change with the value it replaced
        self.contact_persons: str | None = None  # sealed like the address (a list of people as JSON)
        self.needs = ""
        self.purchase_plans = ""
        self.file_history: list[dict[str, Any]] = []
        # C8: the discount tier (% off list) of each year it applies in
        self.discount_tiers: dict[int, Decimal] = {}
        # C11
        self.pending_credit_limit: Decimal | None = None
        self.orders_held = False
        self.securities: dict[str, dict[str, Any]] = {}
        # C12
        self.terms: ContractTerms | None = None
        self.terms_since: str | None = None
        self.pending_change: dict[str, Any] | None = None
        self.termination_request: dict[str, Any] | None = None
        self.contract_history: list[dict[str, Any]] = []
        # C13
        self.key_account_plan: dict[str, Any] | None = None

    @classmethod
    def register(cls, meta: Meta, id: UUID | None = None, **application: object) -> Customer:
        """C2. The application gives the id when it encrypted the personal data for it first."""
        require_role(meta, SALES_STAFF, "C2", "register a prospect")
        if id is not None:  # __init__ takes no id: create through the "created" event directly
            created = cls._create(cls.CustomerRegistered, id=id, meta=meta, **application)  # type: ignore[attr-defined]
            assert isinstance(created, Customer)
            return created
        return cls(meta=meta, **application)  # type: ignore[arg-type]

    # C2: the form's personal data -----------------------------------------------------------------
    def erase_personal_data(self, reason: str, meta: Meta) -> bool:
        """Record the erasure (the application then deletes the key); False when already recorded."""
        require_role(meta, {Role.GENERAL_MANAGER}, "C2", "erase a customer's personal data")
        if self.personal_data_erased:
            return False
        self._personal_data_erased(reason=reason, meta=meta)
        return True

    PersonalDataErased = aggregate_event(published.PersonalDataErased)

    @event(PersonalDataErased)
    def _personal_data_erased(self, reason: str, meta: Meta) -> None:
        self.personal_data_erased = True

    # C3 -------------------------------------------------------------------------------------------
    def investigate_credit(self, rating: Rating, credit_limit: Decimal, notes: str, meta: Meta) -> None:
        require_role(meta, CREDIT_INVESTIGATORS, "C3", "record a credit investigation")
        self._require_status({Status.PROSPECT}, "C3", "record a credit investigation")
        self._credit_investigated(rating=Rating(rating), credit_limit=credit_limit, notes=notes, meta=meta)
        if self.rating is Rating.POOR:
            # seed 002 第12条: a poor credit halts development
            self._rejected(reason=f"poor credit rating: {notes}", rule="C3", meta=meta)

    CreditInvestigated = aggregate_event(published.CreditInvestigated)

    @event(CreditInvestigated)
    def _credit_investigated(self, rating: Rating, credit_limit: Decimal, notes: str, meta: Meta) -> None:
        self.rating = Rating(rating)
        self.credit_limit = credit_limit
        self.status = Status.CREDIT_CHECK

    CustomerRejected = aggregate_event(published.CustomerRejected)

    @event(CustomerRejected)
    def _rejected(self, reason: str, rule: str, meta: Meta) -> None:
        self.status = Status.REJECTED
        self.rejection_reason = reason

    def reject(self, reason: str, meta: Meta) -> None:
        require_role(meta, at_least(Role.SALES_SUPERVISOR), "C4", "reject a prospect")
        self._require_status({Status.PROSPECT, Status.CREDIT_CHECK}, "C4", "reject")
        self._rejected(reason=reason, rule="C4", meta=meta)

    # C4 -------------------------------------------------------------------------------------------
    def approve(self, sequence: CodeSequence, meta: Meta) -> str:
        require_role(meta, at_least(Role.SALES_SUPERVISOR), "C4", "approve a customer")
        if self.status is Status.PROSPECT:
            raise InvalidState("approval needs a passed credit check first", rule="C4")
        self._require_status({Status.CREDIT_CHECK}, "C4", "approve")
        code = sequence.issue(self.id, meta)
        self._approved(code=code, meta=meta)
        return code

    CustomerApproved = aggregate_event(published.CustomerApproved)

    @event(CustomerApproved)
    def _approved(self, code: str, meta: Meta) -> None:
        self.code = code
        self.status = Status.APPROVED

    # C5 -------------------------------------------------------------------------------------------
    def regrade(self, grade: Grade, reason: str, meta: Meta) -> None:
        require_role(meta, at_least(Role.SALES_MANAGER), "C5", "set a customer's grade")
        potential = Grade(grade) is Grade.D and self.status in (Status.PROSPECT, Status.CREDIT_CHECK)
        if not potential:  # rev 2: a prospect may be graded D (potential) before approval, nothing else
            self._require_status({Status.APPROVED, Status.SUSPENDED}, "C5", "grade")
        if self.grade is not None and not reason.strip():
            raise DomainError("a regrade records its reason", rule="C5", details={"field": "reason"})
        self._graded(grade=Grade(grade), previous=self.grade, reason=reason, meta=meta)

    CustomerGraded = aggregate_event(published.CustomerGraded)

    @event(CustomerGraded)
    def _graded(self, grade: Grade, previous: Grade | None, reason: str, meta: Meta) -> None:
        self.grade = Grade(grade)

    # C7 -------------------------------------------------------------------------------------------
    def set_capital_limit(self, capital_limit: Decimal, meta: Meta) -> None:
        require_role(meta, at_least(Role.MARKETING_DIRECTOR), "C7", "set a branch's capital limit")
        if self.kind is not Kind.BRANCH:
            raise DomainError("only a branch has a capital-occupation limit", rule="C7")
        self._capital_limit_set(capital_limit=capital_limit, meta=meta)

    CapitalLimitSet = aggregate_event(published.CapitalLimitSet)

    @event(CapitalLimitSet)
    def _capital_limit_set(self, capital_limit: Decimal, meta: Meta) -> None:
        self.capital_limit = capital_limit

    # C8 -------------------------------------------------------------------------------------------
    def record_prepayment(self, year: int, amount: Decimal, discount_pct: Decimal, meta: Meta) -> None:
        require_role(
            meta, at_least(Role.SALES_MANAGER) | {Role.FINANCE}, "C8", "record a year-end prepayment"
        )
        self._require_status({Status.APPROVED, Status.SUSPENDED}, "C8", "record a prepayment")
        if amount <= 0:
            raise DomainError("a prepayment is a positive amount", rule="C8", details={"field": "amount"})
        self._prepayment_recorded(
            year=year, amount=amount, discount_year=year + 1, discount_pct=discount_pct, meta=meta
        )

    PrepaymentRecorded = aggregate_event(published.PrepaymentRecorded)

    @event(PrepaymentRecorded)
    def _prepayment_recorded(
        self, year: int, amount: Decimal, discount_year: int, discount_pct: Decimal, meta: Meta
    ) -> None:
        self.prepayments[year] = self.prepayments.get(year, Decimal("0")) + amount
        self.discount_pct = discount_pct
        self.discount_tiers[discount_year] = discount_pct

    # C9 -------------------------------------------------------------------------------------------
    def suspend(self, reason: str, meta: Meta) -> None:
        require_role(meta, at_least(Role.SALES_MANAGER), "C9", "suspend a customer")
        self._require_status({Status.APPROVED}, "C9", "suspend")
        self._suspended(reason=reason, meta=meta)

    CustomerSuspended = aggregate_event(published.CustomerSuspended)

    @event(CustomerSuspended)
    def _suspended(self, reason: str, meta: Meta) -> None:
        self.status = Status.SUSPENDED

    def reinstate(self, reason: str, meta: Meta) -> None:
        require_role(meta, at_least(Role.SALES_MANAGER), "C9", "reinstate a customer")
        self._require_status({Status.SUSPENDED}, "C9", "reinstate")
        self._reinstated(reason=reason, meta=meta)

    CustomerReinstated = aggregate_event(published.CustomerReinstated)

    @event(CustomerReinstated)
    def _reinstated(self, reason: str, meta: Meta) -> None:
        self.status = Status.APPROVED

    def _require_status(self, allowed: set[Status], rule: str, action: str) -> None:
        require_status(self.status, allowed, rule, action, "a customer")

    def _require_approved(self, rule: str, action: str) -> None:
        self._require_status({Status.APPROVED, Status.SUSPENDED}, rule, action)

    # C10 customer file upkeep (upkeep.py) -----------------------------------------------------------
    edit_file = upkeep.edit_file
    _file_edited = upkeep.file_edited
    reassign = upkeep.reassign
    _salesperson_reassigned = upkeep.salesperson_reassigned
    move_region = upkeep.move_region
    _region_moved = upkeep.region_moved

    # C11 credit revision and securities (credit.py) -------------------------------------------------
    revise_credit = credit.revise_credit
    _credit_revised = credit.credit_revised
    approve_credit_raise = credit.approve_credit_raise
    _credit_raise_approved = credit.credit_raise_approved
    _orders_held = credit.orders_held
    lift_credit_hold = credit.lift_credit_hold
    _credit_hold_lifted = credit.credit_hold_lifted
    record_security = credit.record_security
    _security_recorded = credit.security_recorded
    release_security = credit.release_security
    _security_released = credit.security_released

    # C6 signing and C12 contract lifecycle (contract.py) --------------------------------------------
    sign_contract = contract.sign_contract
    _contract_signed = contract.contract_signed
    propose_contract_change = contract.propose_contract_change
    _contract_change_proposed = contract.contract_change_proposed
    review_contract_change = contract.review_contract_change
    _contract_change_reviewed = contract.contract_change_reviewed
    _contract_change_approved = contract.contract_change_approved
    _contract_change_rejected = contract.contract_change_rejected
    request_termination = contract.request_termination
    _termination_requested = contract.termination_requested
    approve_termination = contract.approve_termination
    _contract_terminated = contract.contract_terminated

    # C13 key-account plan (key_account.py) ----------------------------------------------------------
    write_key_account_plan = key_account.write_plan
    _key_account_plan_written = key_account.plan_written
    advise_key_account_plan = key_account.advise
    _key_account_advice_given = key_account.advice_given
