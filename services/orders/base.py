"""The orders application's plumbing: its settings, its customer view and how it finds its aggregates."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ClassVar, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Snapshot

from services.orders.customer_view import CustomerDirectory
from services.orders.domain import (
    CustomerAccount,
    CustomerSnapshot,
    DueBook,
    HoldBook,
    Product,
)
from shared.aggregate import Meta, SalesAggregate, refuse, require_role
from shared.contracts import Actor, Command, Role
from shared.errors import NotFound
from shared.identity.scope import require_scope
from shared.repository import WithCustomers, find
from shared.store import Outcome

SYSTEM = Actor(id="orders-service", role=Role.SYSTEM)
A = TypeVar("A", bound=SalesAggregate)


class OrdersBase(WithCustomers[CustomerDirectory]):
    service = "orders"
    # The hold and due books (every job run) and accounts (every order) keep growing: snapshots keep
    # loading short.
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {
        HoldBook: 100,
        DueBook: 100,
        CustomerAccount: 100,
    }
    snapshot_class = Snapshot

    def close(self) -> None:
        super().close()
        closer = getattr(self.customers, "close", None)
        if closer is not None:
            closer()

    def run_job(self, keys: Iterable[str], decide: Callable[[Meta, str], Outcome], done: str) -> list[str]:
        """A scheduled job: each key decided in turn by ``decide`` as a command of the service itself (a
        repeated or restarted run decides each from stored state); the keys whose result is ``done``."""
        finished = []
        for key in keys:

            def one(meta: Meta, key: str = key) -> Outcome:
                return decide(meta, key)

            if self.execute(Command(actor=SYSTEM), one)[done]:
                finished.append(key)
        return finished

    def require_job_role(self, cmd: Command, allowed: Iterable[Role], rule: str, action: str) -> None:
        """A job asked for on the bus: refused (naming ``rule``) unless the sender's role may ``action``."""
        require_role(
            Meta(cmd.actor.id, cmd.actor.role.value, "", "", self.clock.now()), allowed, rule, action
        )

    def get(self, kind: type[A], aggregate_id: str) -> A:
        return self._get(kind, aggregate_id, None)

    def _get(self, kind: type[A], aggregate_id: str, rule: str | None) -> A:
        found = find(self.repository, kind, aggregate_id)
        if found is None:
            raise NotFound(f"no {kind.__name__} {aggregate_id}", rule=rule, details={"id": aggregate_id})
        return found

    def _exists(self, aggregate_id: UUID) -> bool:
        return self._stored(SalesAggregate, aggregate_id) is not None

    def _stored(self, kind: type[A], aggregate_id: UUID) -> A | None:
        """The ``kind`` stored under ``aggregate_id``, if there is one."""
        try:
            found = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        assert isinstance(found, kind)
        return found

    def in_scope(self, subject: SalesAggregate) -> None:
        """A change to a customer's order, hold or price exception: by a user whose role covers the
        customer's region (a salesperson: their own customers), as orders' customer view knows it. Asked
        after the rule's role check; a refused command's changes to its copy are never saved."""
        customer_id = getattr(subject, "customer_id", None)
        customer = self.customers.get(customer_id) if customer_id else None
        if customer is not None:
            require_scope(customer.region, customer.salesperson_id, f"customer {customer_id}")

    def _customer(self, customer_id: str) -> CustomerSnapshot:
        customer = self.customers.get(customer_id)
        if customer is None:
            raise NotFound(
                f"orders knows no customer {customer_id}", rule="O1", details={"customer_id": customer_id}
            )
        return customer

    def _branch(self, customer_id: str, rule: str) -> CustomerSnapshot:
        customer = self._customer(customer_id)
        if customer.kind != "branch":
            raise refuse(rule, "only a branch has this", kind=customer.kind)
        return customer

    def _product(self, product_code: str, to_change: bool = True) -> Product:
        """The product; ``to_change=False`` reads the cached state itself, which must then not change
        (a command's own copy costs ~6 µs, and most commands only read the list price and stock)."""
        try:
            return self.repository.get(Product.create_id(product_code), deepcopy_from_cache=to_change)
        except AggregateNotFoundError:
            raise NotFound(
                f"no product {product_code} on the list", rule="O2", details={"product_code": product_code}
            ) from None

    def _account_or_none(self, customer_id: str) -> CustomerAccount | None:
        return self._stored(CustomerAccount, CustomerAccount.create_id(customer_id))

    def _account(self, customer_id: str, meta: Meta) -> CustomerAccount:
        return self._account_or_none(customer_id) or CustomerAccount(customer_id=customer_id, meta=meta)

    def _hold_book_or_none(self) -> HoldBook | None:
        return self._stored(HoldBook, HoldBook.create_id())

    def _hold_book(self, meta: Meta) -> HoldBook:
        return self._hold_book_or_none() or HoldBook(meta=meta)

    def _due_book_or_none(self) -> DueBook | None:
        return self._stored(DueBook, DueBook.create_id())

    def _due_book(self, meta: Meta) -> DueBook:
        return self._due_book_or_none() or DueBook(meta=meta)
