"""Scopes in the field service (DOMAIN.md "Actors and roles", rev 2): which region and salesperson each
command and query of S1–S4 is about, asked of ``shared.identity.scope`` before anything is decided.

A region's plan, targets and budget are its region's (no salesperson's: a salesperson grant never covers
them); the company's target only a company-wide role's; a claim, a visit, a development plan and a
market report are their salesperson's in their region; a customer's visits the customer's.
"""

from __future__ import annotations

from services.field.customer_view import CustomerDirectory
from shared.customer_directory import require_customer_scope
from shared.identity.scope import acting, require_scope

# No region is called this: only a company-wide grant covers the company's target.
COMPANY = "(company)"


def company_target() -> None:
    require_scope(COMPANY, None, "the company's annual target")


def region(name: str, subject: str) -> None:
    require_scope(name, None, f"{subject} of region {name}")


def customers(directory: CustomerDirectory, customer_ids: list[str]) -> None:
    """Each customer the field's view knows: acted on by a user covering its region (a salesperson:
    their own customers). One the view does not know yet has no scope to check."""
    for customer_id in customer_ids:
        require_customer_scope(directory, customer_id, f"customer {customer_id}")


def visible(region_name: str, salesperson_id: str) -> bool:
    """Whether the acting user may read what ``salesperson_id`` did in ``region_name`` (lists)."""
    who = acting()
    return who is None or who.covers(region_name, salesperson_id)


def salesperson_month(directory: CustomerDirectory, salesperson_id: str, subject: str) -> None:
    """A salesperson's month of visits: their own, or a user covering every region they have customers
    in (the field's view of customers is where a salesperson's region is known)."""
    who = acting()
    if who is None or who.user == salesperson_id:
        return
    regions = sorted({c.region for c in directory.of_salesperson(salesperson_id)}) or [COMPANY]
    for name in regions:
        require_scope(name, salesperson_id, subject)
