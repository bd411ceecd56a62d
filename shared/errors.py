"""The error model: every refusal names its code, the rule (DOMAIN.md id) or field, and details."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A refused command. Raised before anything is stored, so a refusal changes nothing."""

    code = "rule_violation"

    def __init__(
        self, message: str, *, rule: str | None = None, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.rule = rule
        self.details = details or {}


class Forbidden(DomainError):
    """The acting role is not allowed to do this (the rule says who may)."""

    code = "forbidden"


class Unauthenticated(DomainError):
    """The request carries no credential, or one that is expired, tampered with or wrongly signed."""

    code = "unauthenticated"


class NotFound(DomainError):
    code = "not_found"


class InvalidState(DomainError):
    """The aggregate is in a state where this command does not apply."""

    code = "invalid_state"


class Conflict(DomainError):
    """Concurrent writers kept colliding; the command was not applied."""

    code = "conflict"


class Unavailable(DomainError):
    """A dependency (database, bus) is down; nothing was written."""

    code = "unavailable"
