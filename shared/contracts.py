"""Bus contract models (ARCHITECTURE.md, "Bus contract"): actor, command base, reply, event envelope."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)
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
    TECHNICIAN = "technician"  # P9: belongs to a region
    CUSTOMER_SERVICE_MANAGER = "customer_service_manager"  # C13 adviser (客户服务部经理)
    SYSTEM = "system"  # the services themselves, e.g. a scheduler expiring a hold


# What a money field accepts, as the contract publishes it: a decimal string of at most 14 digits before the
# point and 2 after, never negative (the models below refuse the rest: 16 digits, 2 places, not below 0).
MONEY_PATTERN = r"^(0|[1-9][0-9]{0,13})(\.[0-9]{1,2})?$"
POSITIVE_MONEY_PATTERN = r"^(?!0+(\.0+)?$)(0|[1-9][0-9]{0,13})(\.[0-9]{1,2})?$"  # and not zero


def _plain_decimal_text(value: Any) -> Any:
    """Money as text is written plainly ("1200.50"): no exponent, sign or spaces, as the pattern says."""
    if isinstance(value, str) and not re.match(r"^[0-9]+(\.[0-9]+)?$", value):
        raise ValueError("money is a decimal string like 1200.50")
    return value


def _money(bound: dict[str, Any], pattern: str, what: str) -> Any:
    return Annotated[
        Decimal,
        BeforeValidator(_plain_decimal_text),
        Field(max_digits=16, decimal_places=2, **bound),
        AfterValidator(lambda d: d.quantize(CENTS)),
        PlainSerializer(lambda d: f"{d:.2f}", return_type=str, when_used="json"),
        WithJsonSchema(
            {
                "type": "string",
                "pattern": pattern,
                "maxLength": 17,
                "description": f"CNY, {what}, as a decimal string with at most 2 places",
                "examples": ["1200.00"],
            }
        ),
    ]


Money = _money({"ge": 0}, MONEY_PATTERN, "0 or more")
"""CNY with 2 places, sent as a decimal string ("1234.50")."""
PositiveMoney = _money({"gt": 0}, POSITIVE_MONEY_PATTERN, "more than 0")
"""Money that must be more than 0 (a price, a payment)."""

# A Decimal in an event's data travels as its text (``DecimalAsStr``): money with 2 places, "12000.00".
DecimalText = Annotated[
    Decimal,
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^-?[0-9]+(\.[0-9]+)?$",
            "description": 'a decimal number as a string; money has 2 places ("12000.00")',
        }
    ),
]

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


class ErrorCode(StrEnum):
    """Why a request was refused; every refusal stored nothing."""

    INVALID = "invalid"  # the body breaks the schema: details.errors[] names each field
    RULE_VIOLATION = "rule_violation"  # a business rule refused it: rule names it
    FORBIDDEN = "forbidden"  # the acting role may not do this: details.role, details.allowed
    NOT_FOUND = "not_found"
    INVALID_STATE = "invalid_state"  # the thing is in a state where this does not apply
    CONFLICT = "conflict"  # concurrent writers kept colliding, or an idempotency key reused with another body
    UNAVAILABLE = "unavailable"  # a dependency (the store) is down: send it again later
    TOO_LARGE = "too_large"  # the body is over the limit: details.size, details.limit
    UNKNOWN_COMMAND = "unknown_command"  # no such command or query: details.known lists them
    UNAUTHORIZED = "unauthorized"  # no valid credential (reporting's HTTP API: status 401)
    UNAUTHENTICATED = "unauthenticated"  # a command or query without a valid token (docs/integration.md)
    INTERNAL = "internal"  # an unexpected error, logged


class FieldProblem(BaseModel):
    field: str = Field(description='dotted path of the field ("lines.0.quantity"), or "(body)" for the whole')
    message: str
    type: str = Field(description="pydantic's error type, e.g. missing, string_too_short, extra_forbidden")


class ErrorDetails(BaseModel):
    """What the refusal is about; other keys may appear with a rule's own details (ignore unknown ones).
    Published as the schema of ``ErrorBody.details``; the details themselves stay a plain dict, written by
    the rule that refused."""

    model_config = ConfigDict(extra="allow")

    errors: list[FieldProblem] | None = Field(default=None, description="code invalid: every bad field")
    size: int | None = Field(default=None, description="code too_large: the body's size in bytes")
    limit: int | None = Field(default=None, description="code too_large: the largest body accepted, bytes")
    known: list[str] | None = Field(default=None, description="code unknown_command: the names there are")
    role: str | None = Field(default=None, description="code forbidden: the acting role")
    allowed: list[str] | None = Field(default=None, description="code forbidden: the roles that may")


def _inlined(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with its nested models written in place (no ``$defs``)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    inlined: dict[str, Any] = inline(schema)
    return inlined


class ErrorBody(BaseModel):
    code: ErrorCode
    message: str = Field(description="for people; do not parse it")
    rule: str | None = Field(
        default=None, description="the DOMAIN.md rule that refused it (e.g. O9); null or absent when none did"
    )
    details: Annotated[dict[str, Any], WithJsonSchema(_inlined(ErrorDetails))] = Field(default_factory=dict)

    @classmethod
    def of(cls, error: DomainError) -> ErrorBody:
        return cls(code=ErrorCode(error.code), message=error.message, rule=error.rule, details=error.details)


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
        reply = self.model_dump(mode="json", exclude_none=True)
        if self.error is not None:  # an error always names its rule: null where none applies
            reply["error"]["rule"] = self.error.rule
        return reply


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
