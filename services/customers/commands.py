"""The customers service's bus contract: commands, queries and their results."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from services.customers.domain import Grade, Kind, LeadSource, Rating, SecurityKind, Status, TerminationReason
from shared.contracts import Command, Identifier, Money, Query

Region = Annotated[str, Field(pattern=r"^[A-Z]{2,10}$", description="region code, e.g. EAST")]
Text = Annotated[str, Field(min_length=1, max_length=500)]
Reason = Annotated[str, Field(min_length=1, max_length=1000)]


class RegisterProspect(Command):
    """C2: register a prospect with the new-customer application (新客户认定申请表)."""

    kind: Kind
    region: Region
    salesperson_id: Identifier
    company_name: Text
    founding_date: date
    legal_representative: Text
    registered_capital: Money
    address: Text
    phone: Annotated[str, Field(min_length=3, max_length=40)]
    business_scale: Text
    staff_count: Annotated[int, Field(strict=True, ge=0, le=10_000_000)]
    annual_sales: Money
    main_products: Annotated[list[Text], Field(min_length=1, max_length=50)]
    preferred_payment_terms: Text
    bank: Text
    lead_source: LeadSource | None = None  # since schema version 2 of CustomerRegistered


class InvestigateCredit(Command):
    """C3: record the credit investigation (信用调查); a poor rating rejects the prospect."""

    customer_id: Identifier
    rating: Rating
    credit_limit: Money
    notes: Annotated[str, Field(max_length=2000)] = ""


class ApproveCustomer(Command):
    """C4: approve after a passed credit check; assigns the customer code."""

    customer_id: Identifier


class RejectCustomer(Command):
    """C4: reject a prospect, with the reason."""

    customer_id: Identifier
    reason: Reason


class GradeCustomer(Command):
    """C5: set or change the grade (A/B/C/D); a regrade records the reason."""

    customer_id: Identifier
    grade: Grade
    reason: Annotated[str, Field(max_length=1000)] = ""


ProductCode = Annotated[str, Field(min_length=1, max_length=60)]


class ContractTermsModel(BaseModel):
    """C12: a contract's terms."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="ContractTerms")

    payment_terms_days: Annotated[int, Field(strict=True, ge=1, le=365, description="days to pay (O11)")]
    delivery_terms: Annotated[str, Field(max_length=500)] = ""
    product_scope: Annotated[
        list[ProductCode] | None,
        Field(min_length=1, max_length=1000, description="the product codes covered; null: every product"),
    ] = None
    annual_volume: Money | None = Field(None, description="the year's committed amount; null: none")


class SignContract(Command):
    """C6: a distributor's framework contract (经销合约), approved by the regional manager (or above).
    A new contract replaces the one in force, which stays in the history (C12)."""

    customer_id: Identifier
    contract_number: Annotated[str, Field(min_length=1, max_length=60)]
    valid_from: date
    valid_to: date
    terms: ContractTermsModel | None = None


class SetCapitalLimit(Command):
    """C7: a branch's capital-occupation limit (资金占用限额), set by the marketing director."""

    customer_id: Identifier
    capital_limit: Money


class RecordPrepayment(Command):
    """C8: a year-end prepayment (年终预付款); grants the next year's preferential discount."""

    customer_id: Identifier
    year: Annotated[int, Field(strict=True, ge=2000, le=2100)]
    amount: Money


class SuspendCustomer(Command):
    """C9: suspend a customer (channel optimisation); it can no longer order or reserve."""

    customer_id: Identifier
    reason: Reason


class ReinstateCustomer(Command):
    """C9: reinstate a suspended customer."""

    customer_id: Identifier
    reason: Reason


class ErasePersonalData(Command):
    """C2: erase the form's personal data (legal representative, phone, address) for good.

    The customer's key is deleted, so every stored copy of those fields becomes unreadable; the rest of
    the customer (kind, region, company, status ...) is kept."""

    customer_id: Identifier
    reason: Reason


class ContactPerson(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Text
    title: Annotated[str, Field(max_length=100)] = ""
    phone: Annotated[str, Field(max_length=40)] = ""


class EditCustomerFile(Command):
    """C10: change the customer file (the customer's own salesperson, or sales_supervisor and above);
    the reason and the values replaced are kept in the history. Give only the fields that change."""

    customer_id: Identifier
    reason: Reason
    address: Text | None = None
    phone: Annotated[str, Field(min_length=3, max_length=40)] | None = None
    contact_persons: Annotated[list[ContactPerson], Field(max_length=50)] | None = None
    bank: Text | None = None
    business_scale: Text | None = None
    needs: Annotated[str, Field(max_length=2000)] | None = None
    purchase_plans: Annotated[str, Field(max_length=2000)] | None = None


class ReassignCustomer(Command):
    """C10: give a customer to another salesperson (sales_supervisor and above)."""

    customer_id: Identifier
    salesperson_id: Identifier
    reason: Reason


class ReassignSalespersonCustomers(Command):
    """C10: give every customer of a leaving salesperson to another one in one command (sales_supervisor
    and above); each customer gets its own ``SalespersonReassigned`` event, all stored together."""

    from_salesperson_id: Identifier
    to_salesperson_id: Identifier
    reason: Reason


class MoveCustomerRegion(Command):
    """C10: move a customer to another region (the new region's regional_manager, or above); its code
    is kept."""

    customer_id: Identifier
    region: Region
    reason: Reason


class ReviseCredit(Command):
    """C11: a special credit investigation of an approved customer, at any time (sales staff, finance).
    A lower limit applies at once, a higher one after a sales_manager's approval; a poor rating holds
    the customer's new orders until a sales_manager lifts the hold."""

    customer_id: Identifier
    rating: Rating
    credit_limit: Money
    notes: Annotated[str, Field(max_length=2000)] = ""


class ApproveCreditRaise(Command):
    """C11: approve the higher limit a special investigation asked for (sales_manager and above)."""

    customer_id: Identifier


class LiftCreditHold(Command):
    """C11: after review, let the customer's new orders through again (sales_manager and above)."""

    customer_id: Identifier
    reason: Reason


class RecordSecurity(Command):
    """C11: a security held against credit (担保品, 抵押, 店保, 个人保), by sales_manager and above."""

    customer_id: Identifier
    security_kind: SecurityKind
    value: Money
    holder: Text
    expires_on: date
    description: Annotated[str, Field(max_length=1000)] = ""


class ReleaseSecurity(Command):
    """C11: give a security back (sales_manager and above)."""

    customer_id: Identifier
    security_id: Identifier
    reason: Reason


class ProposeContractChange(Command):
    """C12: new terms for the contract in force, proposed by the salesperson (sales staff); they apply
    once sales_supervisor, regional_manager and general_manager have approved them, in that order."""

    customer_id: Identifier
    terms: ContractTermsModel
    reason: Reason


class ReviewContractChange(Command):
    """C12: the next step of a proposed change: sales_supervisor review, then regional_manager review,
    then general_manager approval. A step out of its turn is refused (C12); ``approve: false`` ends the
    change at that step."""

    customer_id: Identifier
    approve: Annotated[bool, Field(strict=True)]
    note: Annotated[str, Field(max_length=1000)] = ""


class RequestContractTermination(Command):
    """C12: the regional_manager asks for the contract's termination (force majeure, customer breach,
    mutual)."""

    customer_id: Identifier
    reason: TerminationReason
    note: Annotated[str, Field(max_length=1000)] = ""


class ApproveContractTermination(Command):
    """C12: the general_manager approves the termination asked for; the distributor's new orders then
    wait for a contract (O4)."""

    customer_id: Identifier
    note: Annotated[str, Field(max_length=1000)] = ""


class WriteKeyAccountPlan(Command):
    """C13: the key-account plan of an A customer (重点客户管理表), written by the sales_manager."""

    customer_id: Identifier
    year: Annotated[int, Field(strict=True, ge=2000, le=2100)]
    sales_target: Money
    why_key: Text
    actions: Annotated[list[Text], Field(min_length=1, max_length=50)]


class AdviseKeyAccountPlan(Command):
    """C13: the customer_service_manager's or the general_manager's advice on a key-account plan."""

    customer_id: Identifier
    advice: Annotated[str, Field(min_length=1, max_length=2000)]


class GetCustomer(Query):
    """A customer by id or by code."""

    customer_id: Identifier | None = None
    code: Annotated[str, Field(min_length=1, max_length=30)] | None = None


class ListPersonalDataReads(Query):
    """C2: who read customers' personal data, when; newest first. For auditors (general_manager, finance)."""

    customer_id: Identifier | None = None
    limit: Annotated[int, Field(strict=True, ge=1, le=1000)] = 100


class PersonalDataRead(BaseModel):
    customer_id: str
    user: str
    roles: list[str]
    read_at: datetime


class PersonalDataReads(BaseModel):
    reads: list[PersonalDataRead]


class ListCustomers(Query):
    """Customers by region, kind, grade, salesperson or status (any combination), by region then code."""

    region: Region | None = None
    kind: Kind | None = None
    grade: Grade | None = None
    salesperson_id: Identifier | None = None
    status: Status | None = None
    limit: Annotated[int, Field(strict=True, ge=1, le=1000)] = 100
    offset: Annotated[int, Field(strict=True, ge=0)] = 0


class CustomerListing(BaseModel):
    customer_id: str
    code: str | None
    kind: Kind
    region: str
    grade: Grade | None
    salesperson_id: str
    status: Status | None
    company_name: str


class CustomerList(BaseModel):
    customers: list[CustomerListing]
    count: int


class CustomerFileHistory(Query):
    """C10: the changes of a customer's file, its reassignments and region moves, oldest first, each with
    its reason and the values replaced."""

    customer_id: Identifier


class GetContract(Query):
    """C12: a customer's contract: terms in force, a change under review, a termination asked for, and
    the history of its terms."""

    customer_id: Identifier


class ListExpiring(Query):
    """C11/C12: securities and contracts expiring within ``within_days`` (30 by default) of ``as_of``
    (today in Asia/Shanghai by default), soonest first: the alerts list."""

    within_days: Annotated[int, Field(strict=True, ge=0, le=366)] = 30
    as_of: date | None = None
    limit: Annotated[int, Field(strict=True, ge=1, le=1000)] = 200


class SecurityResult(BaseModel):
    security_id: str
    security_kind: SecurityKind
    value: Money
    holder: str
    expires_on: date
    description: str


class KeyAccountAdvice(BaseModel):
    advice: str
    by: str
    at: str


class KeyAccountPlanResult(BaseModel):
    year: int
    sales_target: Money
    why_key: str
    actions: list[str]
    written_by: str
    written_at: str
    advice: dict[str, KeyAccountAdvice] = Field(description="by adviser role")


class CustomerResult(BaseModel):
    customer_id: str
    code: str | None
    kind: Kind
    region: str
    salesperson_id: str
    company_name: str
    status: str
    rating: Rating | None
    credit_limit: Money
    grade: Grade | None
    contract: dict[str, str] | None
    capital_limit: Money | None
    discount_pct: Decimal
    discount_tiers: dict[str, Decimal] = Field(
        description="C8: the % off list (as a fraction) granted for each calendar year, by year"
    )
    rejection_reason: str | None
    terms: ContractTermsModel | None
    pending_credit_limit: Money | None
    orders_held: bool = Field(description="C11: a poor rating holds new orders until a review lifts it")
    securities: list[SecurityResult]
    key_account_plan: KeyAccountPlanResult | None
    version: int


class CustomerDetails(CustomerResult):
    """The query's view: the personal data decrypted, None once erased (never in command replies,
    which are kept as idempotency receipts)."""

    legal_representative: str | None
    phone: str | None
    address: str | None
    contact_persons: list[ContactPerson] | None
    bank: str
    business_scale: str
    needs: str
    purchase_plans: str
    personal_data_erased: bool


class FileChange(BaseModel):
    at: str
    by: str
    role: str
    reason: str
    changes: dict[str, Any] = Field(description="field → new value (personal fields None once erased)")
    previous: dict[str, Any] = Field(description="field → the value it replaced")


class FileHistoryResult(BaseModel):
    customer_id: str
    changes: list[FileChange]


class ContractReview(BaseModel):
    step: str
    by: str
    role: str
    note: str
    at: str


class PendingContractChange(BaseModel):
    terms: ContractTermsModel
    reason: str
    proposed_by: str
    proposed_at: str
    awaits: str = Field(description="supervisor_review | regional_review | gm_approval")
    reviews: list[ContractReview]


class TerminationRequest(BaseModel):
    reason: TerminationReason
    note: str
    by: str
    at: str


class PastTerms(BaseModel):
    contract_number: str
    valid_from: date
    valid_to: date
    terms: ContractTermsModel | None
    applied_from: str | None
    applied_until: str
    ended: str


class ContractResult(BaseModel):
    customer_id: str
    contract_number: str | None
    valid_from: date | None
    valid_to: date | None
    terms: ContractTermsModel | None
    pending_change: PendingContractChange | None
    termination_request: TerminationRequest | None
    history: list[PastTerms]


class ReassignmentResult(BaseModel):
    from_salesperson_id: str
    to_salesperson_id: str
    customer_ids: list[str]
    count: int


class ExpiringItem(BaseModel):
    customer_id: str
    item: str = Field(description="security | contract")
    item_id: str = Field(description="the security's id, or the contract number")
    expires_on: date
    days_left: int
    detail: dict[str, Any]


class ExpiringList(BaseModel):
    items: list[ExpiringItem]
    count: int
