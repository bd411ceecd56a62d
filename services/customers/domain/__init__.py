"""The customers' domain (C1–C13): the ``Customer`` aggregate, whose later rules live in their own modules
(upkeep C10, credit C11, contract C6/C12, key_account C13), and the code sequences (C4)."""

from services.customers.domain.code_sequence import CODE_NAMESPACE, CodeSequence
from services.customers.domain.customer import Customer
from services.customers.domain.values import FILE_FIELDS
from shared.customer_contract import (
    ChangeStep,
    ContractTerms,
    Grade,
    Kind,
    LeadSource,
    Rating,
    SecurityKind,
    Status,
    TerminationReason,
)

__all__ = [
    "CODE_NAMESPACE",
    "FILE_FIELDS",
    "ChangeStep",
    "CodeSequence",
    "ContractTerms",
    "Customer",
    "Grade",
    "Kind",
    "LeadSource",
    "Rating",
    "SecurityKind",
    "Status",
    "TerminationReason",
]
