"""The oracle's recomputation (issue 21): every figure reporting exposes, summed from what a flow did the
way DOMAIN.md defines it, never from reporting's code. The flow and the comparison are in
``test_reporting_oracle.py``."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from shared.clock import BUSINESS_TZ

ZERO, CENTS = Decimal(0), Decimal("0.01")
PRICES = {"OR-P1": (Decimal("120.00"), Decimal("70.00")), "OR-P2": (Decimal("45.50"), Decimal("30.00"))}

# ---------------------------------------------------------------- the recomputation, from DOMAIN.md


def period_of(moment: datetime) -> str:
    """R1: period M runs from the 29th of M−1 to the 28th of M, Asia/Shanghai."""
    local = moment.astimezone(BUSINESS_TZ)
    year, month = local.year, local.month
    if local.day > 28:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return f"{year:04d}-{month:02d}"


def period_end(period: str) -> datetime:
    year, month = int(period[:4]), int(period[5:])
    return datetime(year, month, 28, tzinfo=BUSINESS_TZ) + timedelta(days=1)  # the 28th, 24:00


def shifted(period: str, months: int) -> str:
    index = int(period[:4]) * 12 + int(period[5:]) - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def growth(current: Decimal, before: Decimal) -> str | None:
    if before <= 0:
        return None
    return str(((current - before) / before).quantize(Decimal("0.0001"), ROUND_HALF_UP))


def money(value: Decimal) -> str:
    return str(value.quantize(CENTS))


@dataclass
class Order:
    customer: str
    product: str
    quantity: int
    total: Decimal
    status: str
    holds: list[str] = field(default_factory=list)  # the rules holding it back (O4–O8), as orders decided
    paid: Decimal = ZERO  # payments, deposit and credit applied, credit notes taken off the receivable
    shipped_quantity: int = 0
    returned_quantity: int = 0
    receivables: list[tuple[Decimal, date]] = field(default_factory=list)
    # C10: who sold it and where, at the time of the sale (a later reassignment or move changes neither)
    salesperson: str = ""
    region: str = ""

    @property
    def shipped(self) -> Decimal:
        return sum((amount for amount, _ in self.receivables), ZERO)


@dataclass
class Hold:
    customer: str
    product: str
    quantity: int
    amount: Decimal
    deposit: Decimal
    expires_at: datetime
    live: bool = True


@dataclass
class Opening:
    """O11: what a customer owed when the system was adopted."""

    customer: str
    amount: Decimal
    due: date
    paid: Decimal = ZERO


@dataclass
class Customer:
    kind: str
    code: str
    approved_at: datetime
    limit: Decimal


@dataclass
class Model:
    """What the flow did, summed the way DOMAIN.md defines each figure."""

    salesperson: str
    region: str
    customers: dict[str, Customer] = field(default_factory=dict)
    orders: dict[str, Order] = field(default_factory=dict)
    holds: dict[str, Hold] = field(default_factory=dict)
    openings: dict[str, Opening] = field(default_factory=dict)
    credit: dict[str, Decimal] = field(default_factory=lambda: defaultdict(lambda: ZERO))
    # (customer, period) -> figure -> value; (period, product) -> [quantity, amount]; period -> staff figures
    figures: dict[tuple[str, str], dict[str, Decimal]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(lambda: ZERO))
    )
    products: dict[tuple[str, str, str], list[Decimal]] = field(
        default_factory=lambda: defaultdict(lambda: [ZERO, ZERO])
    )
    # (period, staff id) -> staff figures (R7); (period, region) -> [orders, net sales] (R5);
    # (period, region, product) -> [quantity, amount] (R5)
    staff: dict[tuple[str, str], dict[str, Decimal]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(lambda: ZERO))
    )
    regions: dict[tuple[str, str], list[Decimal]] = field(
        default_factory=lambda: defaultdict(lambda: [ZERO, ZERO])
    )
    region_products: dict[tuple[str, str, str], list[Decimal]] = field(
        default_factory=lambda: defaultdict(lambda: [ZERO, ZERO])
    )
    imported: set[tuple[str, str]] = field(default_factory=set)
    valid_complaints: int = 0  # valid service complaints against the salesperson (P5)
    # C10: each customer's salesperson and region now, and every region move (moment, customer, region)
    salesperson_of: dict[str, str] = field(default_factory=dict)
    region_of: dict[str, str] = field(default_factory=dict)
    moves: list[tuple[datetime, str, str]] = field(default_factory=list)
    # C11: securities held (customer, value, expiry)
    securities: list[tuple[str, Decimal, date]] = field(default_factory=list)
    # P8: feedback logged (period, the customer's region then, kind, major)
    feedback: list[tuple[str, str, str, bool]] = field(default_factory=list)

    @property
    def answerer(self) -> str:
        """P8: who every feedback of the flow is assigned to."""
        return f"{self.salesperson}-cs"

    def feedback_figures(self, period: str, region: str) -> dict[str, object] | None:
        """P8 per region and period: feedback logged, by kind, and the major ones (escalated at once)."""
        logged = [(kind, major) for p, r, kind, major in self.feedback if p == period and r == region]
        if not logged:
            return None
        kinds: dict[str, int] = defaultdict(int)
        for kind, _ in logged:
            kinds[kind] += 1
        return {
            "feedback": len(logged),
            "feedback_major": sum(1 for _, major in logged if major),
            "feedback_by_kind": dict(kinds),
        }

    def add(self, customer: str, at: datetime, **deltas: Decimal | int) -> None:
        row = self.figures[customer, period_of(at)]
        for name, delta in deltas.items():
            row[name] += Decimal(delta)

    def placed(self, order_id: str, order: Order, at: datetime, deposit: Decimal = ZERO) -> None:
        """O1/R2: an order counts where it is placed; a hold's deposit and the customer's credit pay toward
        it at once (O9)."""
        self.orders[order_id] = order
        order.salesperson = self.salesperson_of.get(order.customer, self.salesperson)
        order.region = self.region_of.get(order.customer, self.region)
        self.regions[period_of(at), order.region][0] += 1
        order.paid = deposit + min(self.credit[order.customer], order.total - deposit)
        self.credit[order.customer] -= order.paid - deposit
        self.add(order.customer, at, orders=1, ordered_amount=order.total, quantity=order.quantity)
        self._sold(order, at, 1)

    def _sold(self, order: Order, at: datetime, sign: int) -> None:
        product = self.products[order.customer, period_of(at), order.product]
        product[0] += sign * order.quantity
        product[1] += sign * order.total
        self.sold_in_region(order, at, sign * order.quantity, sign * order.total)
        staff = self.staff[period_of(at), order.salesperson]
        staff["amount"] += sign * order.total
        if sign > 0:
            staff["orders"] += 1

    def cancelled(self, order: Order, at: datetime) -> None:
        """R2 rev 2: a cancellation leaves the sales of the period it happens in; what was paid before
        shipping goes back to the customer's credit."""
        order.status = "cancelled"
        self.credit[order.customer] += order.paid
        self.add(
            order.customer,
            at,
            orders_cancelled=1,
            cancelled_amount=order.total,
            ordered_amount=-order.total,
            quantity=-order.quantity,
        )
        self._sold(order, at, -1)

    def credited(self, order: Order, quantity: int, amount: Decimal, at: datetime) -> None:
        """R2 rev 2: a credit note (O15) leaves the sales of the period it is issued in, and is counted
        there as returned."""
        self.add(
            order.customer,
            at,
            credit_notes=1,
            returned_amount=amount,
            ordered_amount=-amount,
            quantity=-quantity,
        )
        product = self.products[order.customer, period_of(at), order.product]
        product[0] -= quantity
        product[1] -= amount
        self.sold_in_region(order, at, -quantity, -amount)
        self.staff[period_of(at), order.salesperson]["amount"] -= amount

    def sold_in_region(self, order: Order, at: datetime, quantity: int, amount: Decimal) -> None:
        """R5 (C10): net sales count in the region the order was placed in, also when it leaves them."""
        self.regions[period_of(at), order.region][1] += amount
        product = self.region_products[period_of(at), order.region, order.product]
        product[0] += quantity
        product[1] += amount

    def region_at(self, customer: str, moment: datetime) -> str:
        """C10: the region a customer was in just before ``moment``."""
        moved = [region for at, cid, region in self.moves if cid == customer and at < moment]
        return moved[-1] if moved else self.region

    def exposure(self, customer: str) -> Decimal:
        """O6/O7 rev 2: every accepted order not cancelled and not yet paid, shipped or not, net of what
        was paid on it (credit notes taken off its receivable included), plus unpaid opening receivables."""
        orders = sum(
            (
                max(o.total - o.paid, ZERO)
                for o in self.orders.values()
                if o.customer == customer and o.status in ("accepted", "shipped")
            ),
            ZERO,
        )
        return orders + sum(
            (r.amount - r.paid for r in self.openings.values() if r.customer == customer), ZERO
        )

    def owes(self, customer: str) -> bool:
        return any(o.customer == customer for o in self.orders.values()) or any(
            r.customer == customer for r in self.openings.values()
        )

    def ageing(self, customer: str, on: date) -> dict[str, Decimal]:
        """R12: what is unpaid of each order is the newest part of its shipments (the oldest are paid
        first), aged by days past due."""
        buckets = dict.fromkeys(
            ("not_due", "overdue_1_30", "overdue_31_60", "overdue_61_90", "overdue_over_90"), ZERO
        )
        # an opening receivable (O11) ages like a shipment of its own
        owed = [
            (o.shipped, o.paid, o.receivables)
            for o in self.orders.values()
            if o.customer == customer and o.status != "cancelled"
        ]
        owed += [
            (r.amount, r.paid, [(r.amount, r.due)]) for r in self.openings.values() if r.customer == customer
        ]
        for shipped, paid, receivables in owed:
            unpaid = max(shipped - paid, ZERO)
            for amount, due in sorted(receivables, key=lambda r: r[1], reverse=True):
                part = min(amount, unpaid)
                unpaid -= part
                days = (on - due).days
                name = (
                    "not_due"
                    if days <= 0
                    else "overdue_1_30"
                    if days <= 30
                    else "overdue_31_60"
                    if days <= 60
                    else "overdue_61_90"
                    if days <= 90
                    else "overdue_over_90"
                )
                buckets[name] += part
        return buckets
