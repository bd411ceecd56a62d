"""The customers' published event contract: one model per event, read by every service that follows the
customers stream (orders' and field's customer views, the customer directory, reporting) and written by
the customers' aggregates, whose event classes are made from these models (``shared.events``).

A model declares the event once: its name (the class name, the envelope's ``event_type``), its pinned
topic, its schema version and the fields each later version added (with the value an older event stands
for), and its typed fields in the order they are stored. ``decode`` turns an envelope into its model,
upcast to the current version; an event type this release does not know decodes to None, so a consumer
passes over it (a newer release's event during a rolling upgrade).
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Any, ClassVar

from typing_extensions import TypedDict  # pydantic reads it on Python 3.11

from shared.contracts import DecimalText, Money, Role
from shared.events import Added, Decoder, EventContract

SOURCE = "customers"  # the service whose stream carries these events


class Kind(StrEnum):
    """C1: distributors are agents and dealers; branches are the company's own."""

    AGENT = "agent"
    DEALER = "dealer"
    BRANCH = "branch"
    DIRECT = "direct"

    @property
    def is_distributor(self) -> bool:
        return self in (Kind.AGENT, Kind.DEALER)


class LeadSource(StrEnum):
    """C2: how the prospect came to the company, so marketing sees which channels bring customers."""

    TRADE_FAIR = "trade_fair"
    REFERRAL = "referral"  # named by an existing customer
    FIELD_VISIT = "field_visit"  # found by a salesperson on the road
    INBOUND = "inbound"  # called or wrote first
    OTHER = "other"


class Status(StrEnum):
    """C2–C9: where the customer stands."""

    PROSPECT = "prospect"
    CREDIT_CHECK = "credit_check"  # investigated and passed, awaiting approval
    APPROVED = "approved"
    REJECTED = "rejected"
    SUSPENDED = "suspended"


class Rating(StrEnum):
    """C3, C11: a credit investigation's rating (a poor one rejects a prospect, holds a customer's orders)."""

    GOOD = "good"
    FAIR = "fair"
    POOR = "poor"


class Grade(StrEnum):
    """C5: the customer's grade (S2 plans visits by it; C13: an A customer is a key account)."""

    A = "A"  # key account 重要大客户
    B = "B"  # main 主要客户
    C = "C"  # ordinary 一般客户
    D = "D"  # potential 潜在客户


class SecurityKind(StrEnum):
    """C11: securities held against credit (担保品, 抵押, 店保, 个人保)."""

    COLLATERAL = "collateral"
    MORTGAGE = "mortgage"
    SHOP_GUARANTEE = "shop_guarantee"
    PERSONAL_GUARANTEE = "personal_guarantee"


class TerminationReason(StrEnum):
    """C12: why a contract ends early."""

    FORCE_MAJEURE = "force_majeure"
    CUSTOMER_BREACH = "customer_breach"
    MUTUAL = "mutual"


class ChangeStep(StrEnum):
    """C12: the review a contract change awaits, in the order of seed 001 六(三)."""

    SUPERVISOR_REVIEW = "supervisor_review"
    REGIONAL_REVIEW = "regional_review"
    GM_APPROVAL = "gm_approval"


class ContractTerms(TypedDict):
    """C12: a contract's terms as stored in its events."""

    payment_terms_days: int
    delivery_terms: str
    product_scope: list[str] | None  # None: every product
    annual_volume: Money | None  # the year's committed amount; None: no commitment


class CustomerEvent(EventContract, family=True):
    """An event of the customers stream: of the ``Customer`` aggregate unless its class says otherwise."""

    SERVICE: ClassVar[str] = SOURCE
    AGGREGATE: ClassVar[str] = "Customer"
    # The customer's status once the event happened (None: it leaves the status as it was).
    STATUS: ClassVar[Status | None] = None


# C2 and C4: onboarding -------------------------------------------------------------------------------
class CustomerRegistered(CustomerEvent):
    """C2. Version 2 records the prospect's lead source (optional: not every application names it)."""

    VERSION = 2
    ADDED: ClassVar[Added] = {2: {"lead_source": None}}  # version 1 did not ask for it
    CREATED = True
    STATUS = Status.PROSPECT
    kind: Kind
    region: str
    salesperson_id: str
    company_name: str
    founding_date: date
    legal_representative: str
    registered_capital: DecimalText
    address: str  # sealed (C2: personal data)
    phone: str  # sealed
    business_scale: str
    staff_count: int
    annual_sales: DecimalText
    main_products: list[str]
    preferred_payment_terms: str
    bank: str
    lead_source: LeadSource | None = None


class PersonalDataErased(CustomerEvent):
    """C2: the key of the customer's sealed personal data is deleted."""

    reason: str


class CreditInvestigated(CustomerEvent):
    """C3: the credit investigation of a prospect (a poor rating rejects it at once)."""

    STATUS = Status.CREDIT_CHECK
    rating: Rating
    credit_limit: DecimalText
    notes: str


class CustomerRejected(CustomerEvent):
    """C3 (poor credit) or C4 (refused): the prospect is not developed further."""

    STATUS = Status.REJECTED
    reason: str
    rule: str


class CustomerApproved(CustomerEvent):
    """C4: approved, with the customer code issued to it."""

    STATUS = Status.APPROVED
    code: str


class CustomerGraded(CustomerEvent):
    """C5. Version 2 records the grade it replaced, so a regrade reads "B → A" in the audit trail."""

    VERSION = 2
    ADDED: ClassVar[Added] = {2: {"previous": None}}  # version 1 did not record it
    grade: Grade
    previous: Grade | None
    reason: str


# C7–C9 ---------------------------------------------------------------------------------------------
class CapitalLimitSet(CustomerEvent):
    """C7: a branch's capital-occupation limit."""

    capital_limit: DecimalText


class PrepaymentRecorded(CustomerEvent):
    """C8: a year-end prepayment, earning the next year's discount tier."""

    year: int
    amount: DecimalText
    discount_year: int
    discount_pct: DecimalText


class CustomerSuspended(CustomerEvent):
    """C9: the customer is suspended (channel optimisation) until reinstated."""

    STATUS = Status.SUSPENDED
    reason: str


class CustomerReinstated(CustomerEvent):
    """C9: a suspended customer is approved again."""

    STATUS = Status.APPROVED
    reason: str


# C10 file upkeep -------------------------------------------------------------------------------------
class CustomerFileEdited(CustomerEvent):
    """C10: fields of the file changed, with the values they replaced."""

    changes: dict[str, Any]
    previous: dict[str, Any]
    reason: str


class SalespersonReassigned(CustomerEvent):
    """C10: the customer is another salesperson's from now on."""

    salesperson_id: str
    previous: str
    reason: str


class CustomerRegionMoved(CustomerEvent):
    """C10: the customer moved to another region (its code stays)."""

    region: str
    previous: str
    reason: str


# C11 credit revision and securities ------------------------------------------------------------------
class CreditRevised(CustomerEvent):
    """C11: ``credit_limit`` is the limit in force after the investigation; ``requested_limit`` above it
    waits for the sales manager."""

    rating: Rating
    credit_limit: DecimalText
    previous_limit: DecimalText
    requested_limit: DecimalText
    notes: str


class CreditRaiseApproved(CustomerEvent):
    """C11: the higher limit applies."""

    credit_limit: DecimalText
    previous_limit: DecimalText


class CustomerOrdersHeld(CustomerEvent):
    """C11: orders put the customer's new orders on hold (O6) while this stands."""

    reason: str
    rule: str


class CustomerOrdersReleased(CustomerEvent):
    """C11: the hold is lifted after review."""

    reason: str


class SecurityRecorded(CustomerEvent):
    """C11: a security held against credit."""

    security_id: str
    security_kind: SecurityKind
    value: DecimalText
    holder: str
    expires_on: date
    description: str


class SecurityReleased(CustomerEvent):
    """C11: a security no longer held."""

    security_id: str
    reason: str


# C6 and C12 contracts --------------------------------------------------------------------------------
class ContractSigned(CustomerEvent):
    """C6. Version 2 carries the contract's terms (C12); version 1 had none (``terms`` None: none agreed,
    O11's default payment terms apply)."""

    VERSION = 2
    ADDED: ClassVar[Added] = {2: {"terms": None}}
    contract_number: str
    valid_from: date
    valid_to: date
    terms: ContractTerms | None


class ContractChangeProposed(CustomerEvent):
    """C12: new terms proposed; they apply once the whole chain approved them."""

    terms: ContractTerms
    reason: str


class ContractChangeReviewed(CustomerEvent):
    """C12: one step of the chain approved the change."""

    step: ChangeStep
    note: str


class ContractChangeApproved(CustomerEvent):
    """C12: the new terms apply from this moment; the old ones go into the history."""

    terms: ContractTerms
    previous_terms: ContractTerms | None
    note: str


class ContractChangeRejected(CustomerEvent):
    """C12: a step of the chain refused the change, which ends it."""

    step: ChangeStep
    note: str


class ContractTerminationRequested(CustomerEvent):
    """C12: the regional manager asks for the contract's termination."""

    reason: TerminationReason
    note: str


class ContractTerminated(CustomerEvent):
    """C12: no contract afterwards: a distributor's new orders wait for one (O4)."""

    contract_number: str
    reason: TerminationReason
    note: str


# C13 key accounts ------------------------------------------------------------------------------------
class KeyAccountPlanWritten(CustomerEvent):
    """C13: an A customer's plan; a new one replaces the one before it."""

    year: int
    sales_target: DecimalText
    why_key: str
    actions: list[str]


class KeyAccountAdviceGiven(CustomerEvent):
    """C13: an adviser's part of the plan."""

    adviser_role: Role
    advice: str


# C4 code sequences -----------------------------------------------------------------------------------
class CodeSequenceEvent(CustomerEvent, aggregate="CodeSequence"):
    """An event of a customer code sequence (one per region and kind), not of a customer."""


class CodeSequenceStarted(CodeSequenceEvent):
    """C4: the code sequence of a region and kind."""

    CREATED = True

    region: str
    kind: Kind


class CustomerCodeIssued(CodeSequenceEvent):
    """C4: a code issued (a number is never reused)."""

    code: str
    customer_id: str


EVENTS: dict[str, type[CustomerEvent]] = {
    model.__name__: model
    for model in (
        CustomerRegistered,
        PersonalDataErased,
        CreditInvestigated,
        CustomerRejected,
        CustomerApproved,
        CustomerGraded,
        CapitalLimitSet,
        PrepaymentRecorded,
        CustomerSuspended,
        CustomerReinstated,
        CustomerFileEdited,
        SalespersonReassigned,
        CustomerRegionMoved,
        CreditRevised,
        CreditRaiseApproved,
        CustomerOrdersHeld,
        CustomerOrdersReleased,
        SecurityRecorded,
        SecurityReleased,
        ContractSigned,
        ContractChangeProposed,
        ContractChangeReviewed,
        ContractChangeApproved,
        ContractChangeRejected,
        ContractTerminationRequested,
        ContractTerminated,
        KeyAccountPlanWritten,
        KeyAccountAdviceGiven,
        CodeSequenceStarted,
        CustomerCodeIssued,
    )
}


decode = Decoder(SOURCE, EVENTS.values())
decode_data = decode.data
