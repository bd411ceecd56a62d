"""The customers service's bus contract: commands, queries and their results."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, Field

from services.customers.domain import Grade, Kind, Rating, Status
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


class SignContract(Command):
    """C6: a distributor's framework contract (经销合约), approved by the regional manager."""

    customer_id: Identifier
    contract_number: Annotated[str, Field(min_length=1, max_length=60)]
    valid_from: date
    valid_to: date


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
    rejection_reason: str | None
    version: int


class CustomerDetails(CustomerResult):
    """The query's view: the personal data decrypted, None once erased (never in command replies,
    which are kept as idempotency receipts)."""

    legal_representative: str | None
    phone: str | None
    address: str | None
    personal_data_erased: bool
