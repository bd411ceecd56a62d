"""Holds (留货, O9): goods held against a deposit or an approved economic guarantee, and their expiry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from uuid import UUID

from eventsourcing.domain import event

from services.orders.domain import events
from services.orders.domain.accounts import CustomerAccount
from services.orders.domain.common import SALES_ROLES, ContractEvents, CustomerSnapshot, money, named_id
from services.orders.domain.products import Product
from shared.aggregate import Meta, SalesAggregate, refuse, require_role
from shared.clock import BUSINESS_TZ
from shared.contracts import Role
from shared.errors import InvalidState


def hold_expiry(start: datetime, hours: int) -> datetime:
    """O9: min(start + hours, the end of the start's month in Asia/Shanghai) — never into next month."""
    local = start.astimezone(BUSINESS_TZ)
    first_next = (local.replace(day=1) + timedelta(days=32)).replace(
        day=1, hour=0, minute=0, second=0, microsecond=0
    )
    return min(start + timedelta(hours=hours), first_next.astimezone(start.tzinfo))


class HoldStatus(StrEnum):
    GUARANTEE_FILED = "guarantee_filed"
    GUARANTEE_AGREED = "guarantee_agreed"
    RESERVED = "reserved"
    CONVERTED = "converted"
    EXPIRED = "expired"


@dataclass
class Reservation(ContractEvents, SalesAggregate):
    """O9: goods held for a customer against a deposit, or an economic guarantee approved in order."""

    TOPIC = "orders.Reservation"
    KEY = "customer_id"
    # Events it stores that change none of its state (the others are named by their ``@event`` method):
    GuaranteeApproved = events.GuaranteeApproved
    # The event that creates it; of its fields, it keeps those below (the library's dataclass aggregate).
    ReservationRequested = events.ReservationRequested

    customer_id: str
    product_code: str
    quantity: int
    amount: Decimal
    salesperson_id: str

    def __post_init__(self) -> None:
        self.status: HoldStatus | None = None
        self.expires_at: datetime | None = None
        self.deposit = Decimal("0.00")

    @classmethod
    def with_deposit(
        cls,
        customer: CustomerSnapshot,
        product: Product,
        quantity: int,
        deposit: Decimal,
        min_pct: Decimal,
        hours: int,
        meta: Meta,
    ) -> Reservation:
        require_role(meta, SALES_ROLES | {Role.BRANCH_MANAGER}, "O9", "hold goods")
        customer.require_can_trade("reserve goods")
        amount = money(product.list_price * quantity)
        required = money(amount * min_pct)
        if deposit <= 0:
            raise refuse("O9", "a hold needs a deposit or an approved economic guarantee", field="deposit")
        if deposit < required:
            raise refuse(
                "O9",
                f"the deposit {deposit} is below {min_pct:%} of the held amount {amount}",
                field="deposit",
                deposit_required=str(required),
            )
        hold = cls._requested(customer, product, quantity, amount, customer.salesperson_id, meta)
        hold._reserve(product, hours, required, meta)
        hold.record(events.DepositReceived, meta, amount=money(deposit))
        return hold

    @classmethod
    def file_guarantee(
        cls, customer: CustomerSnapshot, product: Product, quantity: int, meta: Meta
    ) -> Reservation:
        require_role(meta, {Role.SALESPERSON}, "O9", "file an economic guarantee")
        customer.require_can_trade("reserve goods")
        amount = money(product.list_price * quantity)
        hold = cls._requested(customer, product, quantity, amount, meta.actor_id, meta)
        hold.record(events.GuaranteeFiled, meta, by=meta.actor_id)
        return hold

    @classmethod
    def _requested(
        cls,
        customer: CustomerSnapshot,
        product: Product,
        quantity: int,
        amount: Decimal,
        salesperson_id: str,
        meta: Meta,
    ) -> Reservation:
        return cls._create(
            events.ReservationRequested,
            customer_id=customer.customer_id,
            product_code=product.product_code,
            quantity=quantity,
            amount=amount,
            salesperson_id=salesperson_id,
            meta=meta,
        )

    @event(events.GuaranteeFiled)
    def _guarantee_filed(self) -> None:
        self.status = HoldStatus.GUARANTEE_FILED

    def agree_guarantee(self, meta: Meta) -> None:
        require_role(meta, {Role.SALES_MANAGER}, "O9", "agree an economic guarantee")
        if self.status is not HoldStatus.GUARANTEE_FILED:
            raise InvalidState("the sales manager agrees a guarantee the salesperson filed", rule="O9")
        self.record(events.GuaranteeAgreed, meta, by=meta.actor_id)

    @event(events.GuaranteeAgreed)
    def _guarantee_agreed(self) -> None:
        self.status = HoldStatus.GUARANTEE_AGREED

    def approve_guarantee(self, product: Product, hours: int, meta: Meta) -> None:
        require_role(meta, {Role.GENERAL_MANAGER}, "O9", "approve an economic guarantee")
        if self.status is not HoldStatus.GUARANTEE_AGREED:
            raise InvalidState("the general manager approves only after the sales manager agreed", rule="O9")
        self.record(events.GuaranteeApproved, meta, by=meta.actor_id)
        self._reserve(product, hours, Decimal("0.00"), meta)

    def _reserve(self, product: Product, hours: int, deposit_required: Decimal, meta: Meta) -> None:
        product.allocate(str(self.id), self.customer_id, self.quantity, "O9", meta)
        self.record(
            events.OrderReserved,
            meta,
            product_code=self.product_code,
            quantity=self.quantity,
            amount=self.amount,
            expires_at=hold_expiry(meta.at, hours),
            deposit_required=deposit_required,
        )

    @event(events.OrderReserved)
    def _reserved(self, expires_at: datetime) -> None:
        self.status = HoldStatus.RESERVED
        self.expires_at = expires_at

    @event(events.DepositReceived)
    def _deposit_received(self, amount: Decimal) -> None:
        self.deposit += amount

    def is_due(self, now: datetime) -> bool:
        return self.status is HoldStatus.RESERVED and self.expires_at is not None and now >= self.expires_at

    def convert(self, order_id: str, product: Product, meta: Meta) -> None:
        require_role(meta, SALES_ROLES | {Role.BRANCH_MANAGER}, "O9", "convert a hold into an order")
        if self.status is not HoldStatus.RESERVED or self.is_due(meta.at):
            raise InvalidState(
                "only a live hold can become an order",
                rule="O9",
                details={"status": self.status.value if self.status else None},
            )
        product.transfer(str(self.id), order_id, meta)
        self.record(events.ReservationConverted, meta, order_id=order_id, deposit_applied=self.deposit)

    @event(events.ReservationConverted)
    def _converted(self) -> None:
        self.status = HoldStatus.CONVERTED

    def expire(self, product: Product, account: CustomerAccount, meta: Meta) -> None:
        """The hold lapses by itself: its stock goes back, its deposit stays as the customer's credit."""
        if not self.is_due(meta.at):
            raise InvalidState(
                "the hold is not due to expire", rule="O9", details={"status": str(self.status)}
            )
        product.release(str(self.id), self.customer_id, meta)
        account.credit_deposit(str(self.id), self.deposit, meta)
        self.record(events.ReservationExpired, meta, deposit_credited=self.deposit)

    @event(events.ReservationExpired)
    def _expired(self) -> None:
        self.status = HoldStatus.EXPIRED


class HoldBook(ContractEvents, SalesAggregate):
    """The stored list of live holds and their expiry: what the expiry job reads to find the due ones."""

    TOPIC = "orders.HoldBook"

    @staticmethod
    def create_id() -> UUID:
        return named_id("holdbook")

    @event(events.HoldBookOpened)
    def __init__(self, meta: Meta) -> None:
        self.live: dict[str, str] = {}  # hold id → expires_at (ISO, UTC)

    def add(self, hold: Reservation, meta: Meta) -> None:
        assert hold.expires_at is not None
        self.record(events.HoldBookEntered, meta, hold_id=str(hold.id), expires_at=hold.expires_at)

    @event(events.HoldBookEntered)
    def _entered(self, hold_id: str, expires_at: datetime) -> None:
        self.live[hold_id] = expires_at.isoformat()

    def remove(self, hold_id: str, meta: Meta) -> None:
        if hold_id in self.live:
            self.record(events.HoldBookLeft, meta, hold_id=hold_id)

    @event(events.HoldBookLeft)
    def _left(self, hold_id: str) -> None:
        self.live.pop(hold_id, None)

    def due(self, now: datetime) -> list[str]:
        return sorted(h for h, at in self.live.items() if datetime.fromisoformat(at) <= now)
