"""C4: the customer code sequences, one per region and kind."""

from __future__ import annotations

import uuid
from uuid import UUID

from eventsourcing.domain import event

from services.customers.domain.values import CODE_LETTERS
from shared import customer_contract as published
from shared.aggregate import Meta, SalesAggregate
from shared.customer_contract import Kind
from shared.events import aggregate_event

CODE_NAMESPACE = UUID("a3c4f1de-2b67-4e4f-8d0c-9a1b5e7c3d21")


class CodeSequence(SalesAggregate):
    """C4: customer codes per region and kind, ``{REGION}-{A|D|B|X}{seq:04d}``; a number is never reused."""

    TOPIC = "customers.CodeSequence"

    @staticmethod
    def create_id(region: str, kind: Kind) -> UUID:
        return uuid.uuid5(CODE_NAMESPACE, f"{region}:{Kind(kind).value}")

    CodeSequenceStarted = aggregate_event(published.CodeSequenceStarted)

    @event(CodeSequenceStarted)
    def __init__(self, region: str, kind: Kind, meta: Meta) -> None:
        self.region = region
        self.kind = Kind(kind)
        self.last = 0
        self.issued: dict[str, str] = {}

    def issue(self, customer_id: UUID, meta: Meta) -> str:
        code = f"{self.region}-{CODE_LETTERS[self.kind]}{self.last + 1:04d}"
        self._code_issued(code=code, customer_id=str(customer_id), meta=meta)
        return code

    CustomerCodeIssued = aggregate_event(published.CustomerCodeIssued)

    @event(CustomerCodeIssued)
    def _code_issued(self, code: str, customer_id: str, meta: Meta) -> None:
        self.last += 1
        self.issued[code] = customer_id
