"""The customers' value types: kinds, states, ratings, grades, securities, contract terms, who may act."""

from __future__ import annotations

from enum import StrEnum

from typing_extensions import TypedDict  # pydantic reads it on Python 3.11 (the events' contract)

from shared.aggregate import at_least
from shared.contracts import Money, Role


class Kind(StrEnum):
    """C1: distributors are agents and dealers; branches are the company's own."""

    AGENT = "agent"
    DEALER = "dealer"
    BRANCH = "branch"
    DIRECT = "direct"

    @property
    def is_distributor(self) -> bool:
        return self in (Kind.AGENT, Kind.DEALER)

    @property
    def code_letter(self) -> str:
        return {"agent": "A", "dealer": "D", "branch": "B", "direct": "X"}[self.value]


class LeadSource(StrEnum):
    """C2: how the prospect came to the company, so marketing sees which channels bring customers."""

    TRADE_FAIR = "trade_fair"
    REFERRAL = "referral"  # named by an existing customer
    FIELD_VISIT = "field_visit"  # found by a salesperson on the road
    INBOUND = "inbound"  # called or wrote first
    OTHER = "other"


class Status(StrEnum):
    PROSPECT = "prospect"
    CREDIT_CHECK = "credit_check"  # investigated and passed, awaiting approval
    APPROVED = "approved"
    REJECTED = "rejected"
    SUSPENDED = "suspended"


class Rating(StrEnum):
    GOOD = "good"
    FAIR = "fair"
    POOR = "poor"


class Grade(StrEnum):
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


# Who gives each step of a contract change, and the step after it (None: the change is approved then).
CHANGE_CHAIN: dict[ChangeStep, tuple[Role, ChangeStep | None]] = {
    ChangeStep.SUPERVISOR_REVIEW: (Role.SALES_SUPERVISOR, ChangeStep.REGIONAL_REVIEW),
    ChangeStep.REGIONAL_REVIEW: (Role.REGIONAL_MANAGER, ChangeStep.GM_APPROVAL),
    ChangeStep.GM_APPROVAL: (Role.GENERAL_MANAGER, None),
}


class ContractTerms(TypedDict):
    """C12: a contract's terms as stored in its events."""

    payment_terms_days: int
    delivery_terms: str
    product_scope: list[str] | None  # None: every product
    annual_volume: Money | None  # the year's committed amount; None: no commitment


# The customer file's fields C10 lets the salesperson keep current (address and phone are sealed).
FILE_FIELDS = ("address", "phone", "contact_persons", "bank", "business_scale", "needs", "purchase_plans")

SALES_STAFF = at_least(Role.SALESPERSON)
CREDIT_INVESTIGATORS = SALES_STAFF | {Role.FINANCE}
KEY_ACCOUNT_ADVISERS = frozenset({Role.CUSTOMER_SERVICE_MANAGER, Role.GENERAL_MANAGER})
