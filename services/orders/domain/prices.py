"""Price exceptions (O2)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from eventsourcing.domain import event

from services.orders.domain import events
from services.orders.domain.common import DEPARTMENT_HEADS, SALES_ROLES, ContractEvents, money
from services.orders.domain.products import Product
from shared.aggregate import Meta, SalesAggregate, refuse, require_role
from shared.contracts import Role
from shared.errors import InvalidState


@dataclass
class PriceException(ContractEvents, SalesAggregate):
    """O2: a price off the list for one customer and product: requested, then approved.

    A reduction needs the general manager; a major one (more than ``major_reduction_pct`` below list)
    also needs a majority of the four department heads.
    """

    TOPIC = "orders.PriceException"
    KEY = "customer_id"
    # The event that creates it; of its fields, it keeps those below (the library's dataclass aggregate).
    PriceExceptionRequested = events.PriceExceptionRequested

    customer_id: str
    product_code: str
    unit_price: Decimal
    list_price: Decimal
    major: bool

    def __post_init__(self) -> None:
        self.gm_approved = False
        self.votes: dict[str, bool] = {}
        self.granted = False

    @classmethod
    def request(
        cls,
        customer_id: str,
        product: Product,
        unit_price: Decimal,
        reason: str,
        major_pct: Decimal,
        meta: Meta,
    ) -> PriceException:
        require_role(meta, SALES_ROLES, "O3", "enter a price")
        unit_price = money(unit_price)
        if unit_price >= product.list_price:
            raise refuse("O2", "a price exception is a reduction below the list price", field="unit_price")
        reduction = (product.list_price - unit_price) / product.list_price
        return cls._create(
            events.PriceExceptionRequested,
            customer_id=customer_id,
            product_code=product.product_code,
            unit_price=unit_price,
            list_price=product.list_price,
            reduction_pct=reduction.quantize(Decimal("0.0001")),
            major=reduction > major_pct,
            reason=reason,
            meta=meta,
        )

    def approve(self, meta: Meta) -> None:
        require_role(meta, {Role.GENERAL_MANAGER}, "O2", "approve a price reduction")
        if self.gm_approved:
            raise InvalidState("the general manager already approved this exception", rule="O2")
        self.record(events.PriceExceptionApproved, meta, by=meta.actor_id)
        self._grant_if_due(meta)

    @event(events.PriceExceptionApproved)
    def _approved(self) -> None:
        self.gm_approved = True

    def vote(self, in_favour: bool, meta: Meta) -> None:
        require_role(meta, DEPARTMENT_HEADS, "O2", "vote on a major price reduction")
        if not self.major:
            raise InvalidState("only a major reduction is put to the department heads", rule="O2")
        if meta.actor_role in self.votes:
            raise InvalidState(f"{meta.actor_role} already voted", rule="O2")
        self.record(events.PriceExceptionVoted, meta, role=meta.actor_role, in_favour=in_favour)
        self._grant_if_due(meta)

    @event(events.PriceExceptionVoted)
    def _voted(self, role: str, in_favour: bool) -> None:
        self.votes[role] = in_favour

    def _grant_if_due(self, meta: Meta) -> None:
        majority = sum(self.votes.values()) * 2 > len(DEPARTMENT_HEADS)
        if self.gm_approved and (not self.major or majority) and not self.granted:
            self.record(
                events.PriceExceptionGranted, meta, product_code=self.product_code, unit_price=self.unit_price
            )

    @event(events.PriceExceptionGranted)
    def _granted(self) -> None:
        self.granted = True

    def covers(self, customer_id: str, product_code: str, unit_price: Decimal) -> bool:
        return (
            self.granted
            and self.customer_id == customer_id
            and self.product_code == product_code
            and money(unit_price) == self.unit_price
        )
