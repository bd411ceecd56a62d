"""The customer's account in orders: its orders, receivables, credit; the index for O5–O7, O12, O13."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.domain import event

from services.orders.domain import events
from services.orders.domain.common import (
    CASHIERS,
    ContractEvents,
    CustomerSnapshot,
    iso_week,
    local_date,
    money,
    named_id,
)
from shared.aggregate import Meta, SalesAggregate, refuse, require_role
from shared.contracts import Role
from shared.errors import InvalidState, NotFound

if TYPE_CHECKING:
    from services.orders.domain.orders import Order

# O6/O7 (rev 2): the entries the exposure counts: accepted orders, shipped (in part or in full) or not, and
# opening receivables (O11). A held order (on_hold, pending_contract) counts only once released.
EXPOSED = frozenset({"accepted", "shipped", "opening"})


ACCEPTED = frozenset({"accepted", "shipped", "paid"})  # an order's statuses once no hold stands


class CustomerAccount(ContractEvents, SalesAggregate):
    """Per customer: open amounts and due dates of its orders, deposit credit, and monthly/weekly quantities.

    It is the stored index that decides O5–O7 without reading every order, and the list of orders to
    release when a contract is signed (O4) or the overdue balance clears (O5).
    """

    TOPIC = "orders.CustomerAccount"
    KEY = "customer_id"
    # Events it stores that change none of its state (the others are named by their ``@event`` method):
    AccountContractNoted = events.AccountContractNoted
    ReceivableDueSoon = events.ReceivableDueSoon
    ReceivableOverdue = events.ReceivableOverdue
    ReorderAlertRaised = events.ReorderAlertRaised
    # Every command on a customer copies its account: its entries are replaced, never changed in place,
    # so that a copy shares them (one entry per order the customer ever placed). An entry holds only
    # immutable values (its receivables a tuple of pairs): the garbage collector then stops tracking it,
    # and a service's full collections no longer walk every order of every account (they had grown to
    # 100-200 ms each, every second at saturation).
    SHARED_VALUES = frozenset({"orders", "ordered_by_week", "shipped_by_month"})

    @staticmethod
    def create_id(customer_id: str) -> UUID:
        return named_id(f"account:{customer_id}")

    @event(events.CustomerAccountOpened)
    def __init__(self, customer_id: str, meta: Meta) -> None:
        self.customer_id = customer_id
        # order id (or opening receivable id, O11) → {status, open, receivable, receivables}
        self.orders: dict[str, dict[str, Any]] = {}
        self.credit = Decimal("0.00")
        self.ordered_by_week: dict[str, dict[str, int]] = {}  # ISO week → product → units
        self.shipped_by_month: dict[str, dict[str, int]] = {}  # YYYY-MM → product → units
        self.reorder_points: dict[str, int] = {}
        self.reorder_month: str | None = None  # the month the points are for
        self.transit_days: int | None = None  # kept so the monthly job can compute the next month's

    def note_order(self, order: Order, meta: Meta) -> None:
        """Record the order's current status, open amount and unpaid receivables (after any change)."""
        self.record(
            events.AccountOrderNoted,
            meta,
            order_id=str(order.id),
            status=order.status.value,
            open_amount=order.open_amount,
            receivable=order.receivable,
            week=iso_week(order.placed_on),
            lines={line["product_code"]: int(line["quantity"]) for line in order.lines},
            placed_on=order.placed_on,
            total=order.total_amount,
        )

    @event(events.AccountOrderNoted)
    def _order_noted(
        self,
        order_id: str,
        status: str,
        open_amount: Decimal,
        receivable: Decimal,
        week: str,
        lines: dict[str, int],
        placed_on: date | None,
        total: Decimal | None,
    ) -> None:
        entry = self.orders.get(order_id)
        if entry is None:
            entry = {"receivables": ()}  # ((amount, due), ...)
            self.ordered_by_week[week] = _added(self.ordered_by_week.get(week, {}), lines)
        if placed_on is not None:
            entry = {**entry, "placed_on": placed_on, "total": total}
        self.orders[order_id] = {**entry, "status": status, "open": open_amount, "receivable": receivable}

    def accepted_between(self, start: date, end: date, excluding: str | None = None) -> Decimal:
        """O4 rev 2: the total of the orders placed in [start, end) that are accepted (shipped, paid or
        not), not held and not cancelled; ``excluding`` one order."""
        return sum(
            (
                entry["total"]
                for order_id, entry in self.orders.items()
                if entry["status"] in ACCEPTED
                and order_id != excluding
                and entry.get("placed_on") is not None
                and start <= entry["placed_on"] < end
            ),
            Decimal("0.00"),
        )

    def note_shipment(
        self, order_id: str, amount: Decimal, due_on: date, quantities: Mapping[str, int], meta: Meta
    ) -> None:
        self.record(
            events.ReceivableRaised,
            meta,
            order_id=order_id,
            amount=amount,
            due_on=due_on,
            month=f"{local_date(meta.at):%Y-%m}",
            quantities=dict(quantities),
        )

    @event(events.ReceivableRaised)
    def _receivable_raised(
        self, order_id: str, amount: Decimal, due_on: date, month: str, quantities: dict[str, int]
    ) -> None:
        entry = self.orders[order_id]
        self.orders[order_id] = {**entry, "receivables": (*entry["receivables"], (amount, due_on))}
        self.shipped_by_month[month] = _added(self.shipped_by_month.get(month, {}), quantities)

    @property
    def outstanding(self) -> Decimal:
        """O11: shipped and unpaid (the zeros of most orders skipped: adding them cost 4x the look)."""
        return sum((unpaid for o in self.orders.values() if (unpaid := o["receivable"])), Decimal("0.00"))

    @property
    def exposure(self) -> Decimal:
        """O6/O7/R3 (rev 2), the one exposure measure (docs/integration.md, "Exposure and receivables").

        Every accepted order (status accepted or shipped: not held, cancelled nor fully paid), shipped or
        not, at its total less what is paid on it (deposit and credit applied, payments, the part of credit
        notes taken off its receivable), plus what is unpaid of opening receivables. Against the credit
        limit (O6), or for a branch the capital limit (O7: the capital occupied).
        """
        return sum(
            (left for o in self.orders.values() if (left := o["open"]) and o["status"] in EXPOSED),
            Decimal("0.00"),
        )

    def limit_hold(self, customer: CustomerSnapshot, unpaid: Decimal) -> dict[str, str] | None:
        """O6/O7: the hold of an order that adds ``unpaid`` to the exposure and would take it over the
        customer's limit (a branch's capital limit, any other customer's credit limit); None if it fits."""
        if customer.kind == "branch":
            rule, limit, name = "O7", customer.capital_limit or Decimal("0.00"), "capital limit"
        else:
            rule, limit, name = "O6", customer.credit_limit, "credit limit"
        exposure = self.exposure
        if exposure + unpaid <= limit:
            return None
        return {"rule": rule, "message": f"exposure {exposure} + {unpaid} would exceed the {name} {limit}"}

    def overdue(self, now: datetime) -> Decimal:
        """O5/O11: unpaid receivables past their due date; payments settle the oldest shipment first."""
        today = local_date(now)
        total = Decimal("0.00")
        for entry in self.orders.values():
            unpaid = entry["receivable"]
            if not unpaid:  # most orders: nothing shipped, or all paid
                continue
            # the receivable left is the newest part of the shipments: walk them newest first
            for amount, due in reversed(entry["receivables"]):
                part = min(unpaid, Decimal(amount))
                if part <= 0:
                    break
                if due < today:
                    total += part
                unpaid -= part
        return total

    def receivable_left(self, entry_id: str, index: int) -> Decimal:
        """O11: the unpaid part of one receivable (the ``index``-th shipment of an order, oldest first);
        payments settle the oldest shipment first, as in ``overdue``."""
        entry = self.orders[entry_id]
        unpaid = entry["receivable"]
        parts = []
        for amount, _ in reversed(entry["receivables"]):
            part = max(min(unpaid, Decimal(amount)), Decimal("0.00"))
            parts.append(part)
            unpaid -= part
        return parts[::-1][index]

    def remind(self, entry_id: str, index: int, overdue: bool, meta: Meta) -> None:
        """O11: the reminder 3 days before a receivable falls due, or the one when it becomes overdue."""
        _, due_on = self.orders[entry_id]["receivables"][index]
        self.record(
            events.ReceivableOverdue if overdue else events.ReceivableDueSoon,
            meta,
            order_id=entry_id,
            receivable_id=f"{entry_id}#{index}",
            amount=self.receivable_left(entry_id, index),
            due_on=due_on,
        )

    def record_opening(
        self,
        receivable_id: str,
        invoice_number: str,
        amount: Decimal,
        invoice_date: date,
        due_on: date,
        meta: Meta,
    ) -> None:
        """O11: what the customer owed when the system was adopted; O5, O6 and the reminders count it."""
        require_role(meta, CASHIERS, "O11", "record an opening receivable")
        if receivable_id in self.orders:
            raise InvalidState(f"invoice {invoice_number} is recorded already", rule="O11")
        if due_on < invoice_date:
            raise refuse("O11", "an invoice falls due on or after its date", field="due_date")
        self.record(
            events.OpeningReceivableRecorded,
            meta,
            receivable_id=receivable_id,
            invoice_number=invoice_number,
            amount=money(amount),
            invoice_date=invoice_date,
            due_on=due_on,
        )

    @event(events.OpeningReceivableRecorded)
    def _opening_recorded(self, receivable_id: str, amount: Decimal, due_on: date) -> None:
        self.orders[receivable_id] = {
            "status": "opening",
            "open": amount,
            "receivable": amount,
            "receivables": ((amount, due_on),),
        }

    def pay_opening(self, receivable_id: str, amount: Decimal, meta: Meta) -> None:
        require_role(meta, CASHIERS, "O11", "record a payment")
        entry = self.orders.get(receivable_id)
        if entry is None or entry["status"] != "opening":
            raise NotFound(
                f"no opening receivable {receivable_id}", rule="O11", details={"id": receivable_id}
            )
        if amount <= 0 or amount > entry["receivable"]:
            raise refuse(
                "O11",
                f"a payment is positive and at most the receivable {entry['receivable']}",
                field="amount",
            )
        self.record(events.OpeningReceivablePaid, meta, receivable_id=receivable_id, amount=money(amount))

    @event(events.OpeningReceivablePaid)
    def _opening_paid(self, receivable_id: str, amount: Decimal) -> None:
        entry = self.orders[receivable_id]
        left = entry["receivable"] - amount
        self.orders[receivable_id] = {**entry, "open": left, "receivable": left}

    def orders_held_by(self, rule: str, orders: Mapping[str, Order]) -> list[Order]:
        return [orders[oid] for oid in self.orders if oid in orders and orders[oid].held_by(rule)]

    def open_order_ids(self, statuses: Iterable[str]) -> list[str]:
        wanted = set(statuses)
        return [oid for oid, entry in self.orders.items() if entry["status"] in wanted]

    def note_contract(self, valid_from: date | None, valid_to: date | None, meta: Meta) -> None:
        self.record(events.AccountContractNoted, meta, valid_from=valid_from, valid_to=valid_to)

    def credit_deposit(self, hold_id: str, amount: Decimal, meta: Meta) -> None:
        if amount > 0:
            self.record(events.CustomerCreditAdded, meta, hold_id=hold_id, amount=amount)

    @event(events.CustomerCreditAdded)
    def _credited(self, amount: Decimal) -> None:
        self.credit += amount

    def spend_credit(self, order: Order, meta: Meta) -> None:
        """O9 (decision): the credit pays toward the customer's next order, up to what the order leaves
        unpaid; what is left stays for the orders after it."""
        amount = min(self.credit, order.open_amount)
        if amount > 0:
            order.apply_credit(amount, meta)
            self.record(events.CustomerCreditUsed, meta, order_id=str(order.id), amount=amount)

    @event(events.CustomerCreditUsed)
    def _credit_used(self, amount: Decimal) -> None:
        self.credit -= amount

    def return_prepaid(self, order: Order, meta: Meta) -> None:
        """O1: what a cancelled order was paid before shipping (a hold's deposit, credit) goes back to the
        customer's credit (an order is cancelled only before it ships, so nothing else was paid)."""
        if order.paid > 0:
            self.record(events.CustomerCreditReturned, meta, order_id=str(order.id), amount=order.paid)

    @event(events.CustomerCreditReturned)
    def _credit_returned(self, amount: Decimal) -> None:
        self.credit += amount

    def credit_refund(self, order_id: str, credit_note_id: str, amount: Decimal, meta: Meta) -> None:
        """O15/O16: the part of a credit note on goods already paid becomes the customer's credit."""
        if amount > 0:
            self.record(
                events.CustomerCreditRefunded,
                meta,
                order_id=order_id,
                credit_note_id=credit_note_id,
                amount=amount,
            )

    @event(events.CustomerCreditRefunded)
    def _credit_refunded(self, amount: Decimal) -> None:
        self.credit += amount

    # O12 ------------------------------------------------------------------------------------------
    def compute_reorder_points(self, month: str, transit_days: int, meta: Meta) -> dict[str, int]:
        """O12: ceil(mean(last month's, same month last year's avg daily sales) × transit days)."""
        require_role(
            meta, {Role.MARKETING_DIRECTOR, Role.BRANCH_MANAGER, Role.SYSTEM}, "O12", "compute reorder points"
        )
        year, mon = (int(part) for part in month.split("-"))
        last = date(year, mon, 1) - timedelta(days=1)
        last_month = f"{last:%Y-%m}"
        same_last_year = f"{year - 1}-{mon:02d}"
        products = set(self.shipped_by_month.get(last_month, {})) | set(
            self.shipped_by_month.get(same_last_year, {})
        )
        points: dict[str, int] = {}
        for code in sorted(products):
            rates = [
                Decimal(self.shipped_by_month[m][code]) / _days_in(m)
                for m in (last_month, same_last_year)
                if code in self.shipped_by_month.get(m, {})
            ]
            points[code] = math.ceil(sum(rates) / len(rates) * transit_days)
        self.record(events.ReorderPointsComputed, meta, month=month, transit_days=transit_days, points=points)
        return points

    @event(events.ReorderPointsComputed)
    def _reorder_points_computed(self, month: str, transit_days: int, points: dict[str, int]) -> None:
        self.reorder_points = dict(points)
        self.reorder_month = month
        self.transit_days = transit_days

    def report_stock(self, product_code: str, stock: int, meta: Meta) -> bool:
        require_role(meta, {Role.BRANCH_MANAGER}, "O12", "report branch stock")
        if product_code not in self.reorder_points:
            raise NotFound(f"no reorder point for {product_code} this month", rule="O12")
        rop = self.reorder_points[product_code]
        if stock > rop:
            return False
        self.record(
            events.ReorderAlertRaised, meta, product_code=product_code, stock=stock, reorder_point=rop
        )
        return True


def _added(units: Mapping[str, int], more: Mapping[str, int]) -> dict[str, int]:
    """Units per product plus ``more``, as a new dict (the account's entries are never changed in place)."""
    total = dict(units)
    for code, quantity in more.items():
        total[code] = total.get(code, 0) + quantity
    return total


def _days_in(month: str) -> int:
    year, mon = (int(part) for part in month.split("-"))
    first = date(year, mon, 1)
    return ((first + timedelta(days=32)).replace(day=1) - first).days
