"""Scopes (DOMAIN.md "Actors and roles", rev 2): a role is held in a region or company-wide; a
salesperson works only their own customers. Each service knows the region and the salesperson of the
subject of a command from its own state and asks ``require_scope`` before deciding."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Collection
from dataclasses import dataclass

from shared.context import holding
from shared.errors import Forbidden
from shared.identity.tokens import Grant, Identity

SALESPERSON = "salesperson"


@dataclass(frozen=True)
class Acting:
    """The proven user of the request being handled, and the grants it acts under: those of the body's
    ``actor.role``, or all the user's grants when the body names no actor (a query)."""

    user: str
    grants: tuple[Grant, ...]

    @classmethod
    def of(cls, identity: Identity, role: str | None) -> Acting:
        grants = identity.grants if role is None else tuple(g for g in identity.grants if g.role == role)
        return cls(identity.user, grants)

    def covers(self, region: str, salesperson_id: str | None) -> bool:
        for grant in self.grants:
            if grant.role == SALESPERSON:
                if salesperson_id == self.user and grant.region in (None, region):
                    return True
            elif grant.region in (None, region):
                return True
        return False

    def company_wide(self, roles: Collection[str]) -> bool:
        return any(grant.role in roles and grant.region is None for grant in self.grants)

    def require_company_wide(self, roles: Collection[str], what: str) -> None:
        """Refuse unless one of ``roles`` is held company-wide (company-wide figures: the reports)."""
        if not self.company_wide(roles):
            held = ", ".join(grant.claim() for grant in self.grants) or "no role"
            raise Forbidden(
                f"{self.user} ({held}) may not read {what}: it needs one of {', '.join(sorted(roles))} "
                "held company-wide",
                rule="scope",
                details={"role": held, "allowed": sorted(roles)},
            )


acting_now: contextvars.ContextVar[Acting | None] = contextvars.ContextVar("acting", default=None)


def acting() -> Acting | None:
    """Who handles the current request (None outside a request: in-process jobs, direct calls)."""
    return acting_now.get()


def acting_as(who: Acting | None) -> contextlib.AbstractContextManager[None]:
    return holding(acting_now, who)


def require_scope(region: str, salesperson_id: str | None, subject: str) -> None:
    """Refuse unless the acting user's role covers a subject of ``region`` worked by ``salesperson_id``:
    a grant held company-wide or in that region, and for a salesperson only their own customers."""
    who = acting()
    if who is None or who.covers(region, salesperson_id):
        return
    held = ", ".join(grant.claim() for grant in who.grants) or "no role"
    raise Forbidden(
        f"{who.user} ({held}) may not act on {subject} of region {region}"
        + (f" worked by {salesperson_id}" if salesperson_id else "")
        + "; nothing was written",
        rule="scope",
        details={"user": who.user, "region": region, "salesperson_id": salesperson_id},
    )
