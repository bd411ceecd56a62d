"""The customers' rules about values and roles: code letters, the contract change chain, the file's fields,
who may act. The value types themselves are declared with the events, in the published contract
(``shared.customer_contract``)."""

from __future__ import annotations

from shared.aggregate import at_least
from shared.contracts import Role
from shared.customer_contract import ChangeStep, Kind

# C4: the letter of each kind in a customer code ``{REGION}-{letter}{seq:04d}``.
CODE_LETTERS = {Kind.AGENT: "A", Kind.DEALER: "D", Kind.BRANCH: "B", Kind.DIRECT: "X"}

# Who gives each step of a contract change, and the step after it (None: the change is approved then).
CHANGE_CHAIN: dict[ChangeStep, tuple[Role, ChangeStep | None]] = {
    ChangeStep.SUPERVISOR_REVIEW: (Role.SALES_SUPERVISOR, ChangeStep.REGIONAL_REVIEW),
    ChangeStep.REGIONAL_REVIEW: (Role.REGIONAL_MANAGER, ChangeStep.GM_APPROVAL),
    ChangeStep.GM_APPROVAL: (Role.GENERAL_MANAGER, None),
}

# The customer file's fields C10 lets the salesperson keep current (address and phone are sealed).
FILE_FIELDS = ("address", "phone", "contact_persons", "bank", "business_scale", "needs", "purchase_plans")

SALES_STAFF = at_least(Role.SALESPERSON)
CREDIT_INVESTIGATORS = SALES_STAFF | {Role.FINANCE}
KEY_ACCOUNT_ADVISERS = frozenset({Role.CUSTOMER_SERVICE_MANAGER, Role.GENERAL_MANAGER})
