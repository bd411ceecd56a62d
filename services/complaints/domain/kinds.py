"""Complaint states and who may act on them (P1–P4, P6, P7); the kinds an event carries are in
``shared/complaints_contract.py``."""

from __future__ import annotations

from enum import StrEnum

from shared.aggregate import at_least
from shared.contracts import Role


class Status(StrEnum):
    LOGGED = "logged"
    # quality (P3)
    INVESTIGATING = "investigating"
    SITE_VISITED = "site_visited"
    RESOLVED = "resolved"
    FOLLOWED_UP = "followed_up"
    # service (P4)
    VERIFIED = "verified"
    PROPOSED = "proposed"
    DECIDED = "decided"
    # both
    CUSTOMER_INFORMED = "customer_informed"
    CLOSED = "closed"


# Anyone on the staff may take a complaint down; the system itself never logs one.
LOGGERS = frozenset(Role) - {Role.SYSTEM}
SERVICE_HANDLERS = frozenset({Role.SALES_VP, Role.GENERAL_MANAGER})  # P2, P4
QUALITY_DECIDERS = frozenset({Role.GENERAL_MANAGER})  # P6
PROPOSERS = at_least(Role.SALES_SUPERVISOR)
