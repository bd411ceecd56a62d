"""Bus contract models (ARCHITECTURE.md, "Bus contract"): actor, command base, reply, event envelope."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer
from pydantic_core import to_jsonable_python

from shared.errors import DomainError

CENTS = Decimal("0.01")


class Role(StrEnum):
    SALESPERSON = "salesperson"
    SALES_SUPERVISOR = "sales_supervisor"
    SALES_MANAGER = "sales_manager"
    REGIONAL_MANAGER = "regional_manager"
    MARKETING_DIRECTOR = "marketing_director"
    SALES_VP = "sales_vp"
    GENERAL_MANAGER = "general_manager"
    FINANCE = "finance"
    PRODUCTION = "production"
    BRANCH_MANAGER = "branch_manager"
    SYSTEM = "system"  # the services themselves, e.g. a scheduler expiring a hold


Money = Annotated[
    Decimal,
    Field(max_digits=16, decimal_places=2, ge=0),
    AfterValidator(lambda d: d.quantize(CENTS)),
    PlainSerializer(lambda d: f"{d:.2f}", return_type=str, when_used="json"),
]
"""CNY with 2 places, sent as a decimal string ("1234.50")."""

Identifier = Annotated[str, Field(min_length=1, max_length=100)]
CorrelationId = Annotated[str, Field(min_length=1, max_length=100)]


class Actor(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Identifier
    role: Role


class Command(BaseModel):
    """Fields every command carries besides its own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    actor: Actor
    idempotency_key: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    correlation_id: CorrelationId | None = None


class Query(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    actor: Actor | None = None


class ErrorBody(BaseModel):
    code: str
    message: str
    rule: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def of(cls, error: DomainError) -> ErrorBody:
        return cls(code=error.code, message=error.message, rule=error.rule, details=error.details)


T = TypeVar("T")


class Reply(BaseModel, Generic[T]):
    """``{"ok": true, "result": {...}}`` or ``{"ok": false, "error": {...}}``."""

    ok: bool
    result: T | None = None
    error: ErrorBody | None = None

    @staticmethod
    def success_json(result: Any) -> dict[str, Any]:
        """``Reply(ok=True, result=result).to_json()`` without building the model, which took ~2.5 times as
        long (every command's reply)."""
        if result is None:
            return {"ok": True}
        return {"ok": True, "result": to_jsonable_python(result, exclude_none=True)}

    @classmethod
    def failure(cls, error: ErrorBody) -> Reply[Any]:
        return Reply[Any](ok=False, error=error)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


# Part of the customers' event contract: the customer status that each event leaves behind. Read
# sides (orders' customer view, the customer directory) fold it; it is here so that they agree.
CUSTOMER_STATUS_AFTER_EVENT: dict[str, str] = {
    "CustomerRegistered": "prospect",
    "CreditInvestigated": "credit_check",
    "CustomerRejected": "rejected",
    "CustomerApproved": "approved",
    "CustomerSuspended": "suspended",
    "CustomerReinstated": "approved",
}


class Envelope(BaseModel):
    """One stored event as it travels on the bus: subject ``<ns>.<service>.events.<event_type>``."""

    event_id: str
    event_type: str
    schema_version: int
    service: str
    aggregate_type: str
    aggregate_id: str
    aggregate_version: int
    position: int
    occurred_at: datetime
    actor: Actor | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    data: dict[str, Any]
