"""What every orders aggregate shares: ids, roles, money, dates, refusals, the customer as orders sees it."""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar
from uuid import UUID

from shared.clock import BUSINESS_TZ
from shared.contracts import CENTS, Role
from shared.errors import InvalidState

ORDERS_NAMESPACE = UUID("5d0f8a3e-7c2b-4e61-9a4d-3b8e1f6c2a70")


@functools.lru_cache(maxsize=65_536)  # every order reads a product's and an account's: a SHA-1 each, ~3 %
def named_id(name: str) -> UUID:
    """The id of the orders aggregate known by ``name`` (one per product, account, week's list...)."""
    return uuid.uuid5(ORDERS_NAMESPACE, name)


SALES_ROLES = frozenset({Role.SALESPERSON, Role.SALES_SUPERVISOR, Role.SALES_MANAGER})  # O3: who quotes
ORDER_TAKERS = SALES_ROLES | {Role.BRANCH_MANAGER}  # O1: phone/fax orders by sales, branch orders
PRICE_SETTERS = frozenset({Role.GENERAL_MANAGER, Role.MARKETING_DIRECTOR})  # O2: the one list price
DEPARTMENT_HEADS = frozenset({Role.SALES_MANAGER, Role.FINANCE, Role.PRODUCTION, Role.MARKETING_DIRECTOR})
SHIPPERS = frozenset({Role.PRODUCTION})
CASHIERS = frozenset({Role.FINANCE})


def money(value: Decimal) -> Decimal:
    return Decimal(value).quantize(CENTS)


def local_date(moment: datetime) -> date:
    return moment.astimezone(BUSINESS_TZ).date()


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


class ContractEvents:
    """Mixin of every orders aggregate. Its events are declared in the event contract
    (``shared/orders_contract``, their classes made in ``events``) and named on the aggregate as in every
    service: by the ``@event(...)`` method that applies one (see
    ``SalesAggregate``), or in its body where one changes none of its state; the library stores it under
    the declared topic. ``record`` (``SalesAggregate``) triggers one by its class, naming the aggregate by
    ``KEY`` (if it has one)."""

    KEY: ClassVar[str | None] = None  # the field every event of the aggregate names it by (customer, product)

    def _refs(self) -> dict[str, Any]:
        return {} if self.KEY is None else {self.KEY: getattr(self, self.KEY)}


# Customers as orders sees them (built from customer events; see customer_view.py) ------------------
@dataclass(frozen=True)
class Security:
    """C11: a security held against the customer's credit (担保品, 抵押, 店保, 个人保)."""

    security_id: str
    security_kind: str
    value: Decimal
    holder: str
    expires_on: date


@dataclass(frozen=True)
class CustomerSnapshot:
    customer_id: str
    kind: str
    region: str
    salesperson_id: str
    status: str
    credit_limit: Decimal = Decimal("0.00")
    contract_valid_from: date | None = None
    contract_valid_to: date | None = None
    capital_limit: Decimal | None = None
    payment_terms_days: int | None = None  # O11: its own terms; None: the default
    # C12/O4 rev 2: the contract's terms in force (product scope None: every product; volume None: none)
    contract_number: str | None = None
    product_scope: tuple[str, ...] | None = None
    annual_volume: Decimal | None = None
    orders_held: bool = False  # C11: a poor rating holds new orders until reviewed
    discount_tiers: tuple[tuple[int, Decimal], ...] = ()  # C8: (calendar year, pct off list)
    # C11 rev 2: the securities held against its credit, shown with an O6 release
    securities: tuple[Security, ...] = ()
    version: int = 0

    @property
    def is_distributor(self) -> bool:
        return self.kind in ("agent", "dealer")

    def has_contract_on(self, day: date) -> bool:
        return (
            self.contract_valid_from is not None
            and self.contract_valid_to is not None
            and self.contract_valid_from <= day <= self.contract_valid_to
        )

    def discount_in(self, year: int) -> Decimal | None:
        """C8 rev 2: the prepayment tier (fraction off list) in force during calendar ``year``, if any."""
        return dict(self.discount_tiers).get(year)

    def contract_year(self, day: date) -> tuple[date, date]:
        """O4 rev 2: the contract year holding ``day`` as [start, end), counted from ``valid_from``."""
        assert self.contract_valid_from is not None
        start = self.contract_valid_from
        years = day.year - start.year - ((day.month, day.day) < (start.month, start.day))
        return _years_after(start, years), _years_after(start, years + 1)

    def require_can_trade(self, action: str) -> None:
        if self.status == "suspended":
            raise InvalidState(
                f"a suspended customer cannot {action}", rule="C9", details={"status": self.status}
            )
        if self.status != "approved":
            raise InvalidState(
                f"only an approved customer can {action}", rule="O1", details={"status": self.status}
            )


def _years_after(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year + years, day=28)
