"""Orders (要货、订货、留货): products, stock, prices, orders, holds, receivables, branch planning (O1–O14).

Pure: no I/O. Each command method checks its rule and raises ``DomainError`` naming the rule (O14)
before any event, so a refusal changes nothing.
"""

from __future__ import annotations

import functools
import math
import secrets
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from shared.aggregate import Meta, SalesAggregate, at_least, require_role
from shared.clock import BUSINESS_TZ
from shared.contracts import CENTS, Role
from shared.errors import DomainError, InvalidState, NotFound

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
# Who lifts which hold of an order (O4 and O5 clear only by the event that fixes them).
RELEASERS: dict[str, frozenset[Role]] = {
    "O6": at_least(Role.SALES_MANAGER),
    "O7": frozenset({Role.MARKETING_DIRECTOR}),
    "O8": frozenset({Role.GENERAL_MANAGER}),
}


def money(value: Decimal) -> Decimal:
    return Decimal(value).quantize(CENTS)


def local_date(moment: datetime) -> date:
    return moment.astimezone(BUSINESS_TZ).date()


def hold_expiry(start: datetime, hours: int) -> datetime:
    """O9: min(start + hours, the end of the start's month in Asia/Shanghai) — never into next month."""
    local = start.astimezone(BUSINESS_TZ)
    first_next = (local.replace(day=1) + timedelta(days=32)).replace(
        day=1, hour=0, minute=0, second=0, microsecond=0
    )
    return min(start + timedelta(hours=hours), first_next.astimezone(start.tzinfo))


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def refuse(rule: str, message: str, **details: Any) -> DomainError:
    return DomainError(message, rule=rule, details=details)


# Customers as orders sees them (built from customer events; see customer_view.py) ------------------
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

    def require_can_trade(self, action: str) -> None:
        if self.status == "suspended":
            raise InvalidState(
                f"a suspended customer cannot {action}", rule="C9", details={"status": self.status}
            )
        if self.status != "approved":
            raise InvalidState(
                f"only an approved customer can {action}", rule="O1", details={"status": self.status}
            )


# Products and the stock ledger (O2, O8) -------------------------------------------------------------
class Product(SalesAggregate):
    """One product: its single list price (O2), standard cost, and stock ledger (O8).

    The ledger is this aggregate's state, so two holds on the last units conflict on its version:
    one is saved, the other is decided again on fresh stock and refused.
    """

    TOPIC = "orders.Product"

    @staticmethod
    def create_id(product_code: str) -> UUID:
        return named_id(f"product:{product_code}")

    @classmethod
    def list_new(
        cls,
        product_code: str,
        name: str,
        spec: str,
        list_price: Decimal,
        standard_cost: Decimal,
        in_production: bool,
        meta: Meta,
    ) -> Product:
        require_role(meta, PRICE_SETTERS, "O2", "set a list price")
        return cls(
            product_code=product_code,
            name=name,
            spec=spec,
            list_price=money(list_price),
            standard_cost=money(standard_cost),
            in_production=in_production,
            meta=meta,
        )

    @event("ProductListed", topic="orders.Product.ProductListed")
    def __init__(
        self,
        product_code: str,
        name: str,
        spec: str,
        list_price: Decimal,
        standard_cost: Decimal,
        in_production: bool,
        meta: Meta,
    ) -> None:
        self.product_code = product_code
        self.name = name
        self.spec = spec
        self.list_price = list_price
        self.standard_cost = standard_cost
        self.in_production = in_production
        self.on_hand = 0
        self.allocations: dict[str, int] = {}  # holder (hold or order id) → units set aside

    def relist(
        self,
        name: str,
        spec: str,
        list_price: Decimal,
        standard_cost: Decimal,
        in_production: bool,
        meta: Meta,
    ) -> None:
        require_role(meta, PRICE_SETTERS, "O2", "set a list price")
        self._listed_again(
            product_code=self.product_code,
            name=name,
            spec=spec,
            list_price=money(list_price),
            standard_cost=money(standard_cost),
            in_production=in_production,
            meta=meta,
        )

    @event("ProductRelisted", topic="orders.Product.ProductRelisted")
    def _listed_again(
        self,
        product_code: str,
        name: str,
        spec: str,
        list_price: Decimal,
        standard_cost: Decimal,
        in_production: bool,
        meta: Meta,
    ) -> None:
        self.name, self.spec, self.list_price = name, spec, list_price
        self.standard_cost, self.in_production = standard_cost, in_production

    @property
    def available(self) -> int:
        return self.on_hand - sum(self.allocations.values())

    def receive(self, quantity: int, meta: Meta) -> None:
        require_role(meta, {Role.PRODUCTION}, "O8", "receive stock")
        if quantity <= 0:
            raise refuse("O8", "received quantity must be positive", field="quantity")
        self._stock_received(product_code=self.product_code, quantity=quantity, meta=meta)

    @event("StockReceived", topic="orders.Product.StockReceived")
    def _stock_received(self, product_code: str, quantity: int, meta: Meta) -> None:
        self.on_hand += quantity
        self.in_production = True  # what is received is made

    def allocate(self, holder_id: str, customer_id: str, quantity: int, rule: str, meta: Meta) -> None:
        if quantity > self.available:
            raise InvalidState(
                f"only {self.available} of {self.product_code} available, {quantity} asked",
                rule=rule,
                details={"available": self.available, "quantity": quantity},
            )
        self._stock_allocated(
            product_code=self.product_code,
            holder_id=holder_id,
            customer_id=customer_id,
            quantity=quantity,
            meta=meta,
        )

    @event("StockAllocated", topic="orders.Product.StockAllocated")
    def _stock_allocated(
        self, product_code: str, holder_id: str, customer_id: str, quantity: int, meta: Meta
    ) -> None:
        self.allocations[holder_id] = self.allocations.get(holder_id, 0) + quantity

    def release(self, holder_id: str, customer_id: str, meta: Meta) -> None:
        quantity = self.allocations.get(holder_id, 0)
        if quantity:
            self._stock_released(
                product_code=self.product_code,
                holder_id=holder_id,
                customer_id=customer_id,
                quantity=quantity,
                meta=meta,
            )

    @event("StockReleased", topic="orders.Product.StockReleased")
    def _stock_released(
        self, product_code: str, holder_id: str, customer_id: str, quantity: int, meta: Meta
    ) -> None:
        self.allocations.pop(holder_id, None)

    def transfer(self, from_id: str, to_id: str, meta: Meta) -> None:
        """A converted hold's units become the order's."""
        quantity = self.allocations.get(from_id, 0)
        if quantity:
            self._stock_transferred(
                product_code=self.product_code, from_id=from_id, to_id=to_id, quantity=quantity, meta=meta
            )

    @event("StockTransferred", topic="orders.Product.StockTransferred")
    def _stock_transferred(
        self, product_code: str, from_id: str, to_id: str, quantity: int, meta: Meta
    ) -> None:
        self.allocations.pop(from_id, None)
        self.allocations[to_id] = self.allocations.get(to_id, 0) + quantity

    def ship(self, order_id: str, customer_id: str, quantity: int, meta: Meta) -> None:
        """Ship from the order's own allocation first, then from free stock (O8, O11)."""
        own = self.allocations.get(order_id, 0)
        if quantity > own + self.available:
            raise InvalidState(
                f"only {own + self.available} of {self.product_code} can be shipped, {quantity} asked",
                rule="O8",
                details={"available": own + self.available, "quantity": quantity},
            )
        self._stock_shipped(
            product_code=self.product_code,
            order_id=order_id,
            customer_id=customer_id,
            quantity=quantity,
            from_allocation=min(own, quantity),
            meta=meta,
        )

    @event("StockShipped", topic="orders.Product.StockShipped")
    def _stock_shipped(
        self,
        product_code: str,
        order_id: str,
        customer_id: str,
        quantity: int,
        from_allocation: int,
        meta: Meta,
    ) -> None:
        self.on_hand -= quantity
        left = self.allocations.get(order_id, 0) - from_allocation
        if left > 0:
            self.allocations[order_id] = left
        else:
            self.allocations.pop(order_id, None)

    def request_production(self, order_id: str, customer_id: str, shortfall: int, meta: Meta) -> None:
        self._production_requested(
            product_code=self.product_code,
            order_id=order_id,
            customer_id=customer_id,
            quantity=shortfall,
            meta=meta,
        )

    @event("ProductionRequested", topic="orders.Product.ProductionRequested")
    def _production_requested(
        self, product_code: str, order_id: str, customer_id: str, quantity: int, meta: Meta
    ) -> None:
        pass


# Price exceptions (O2) ------------------------------------------------------------------------------
class PriceException(SalesAggregate):
    """O2: a price off the list for one customer and product: requested, then approved.

    A reduction needs the general manager; a major one (more than ``major_reduction_pct`` below list)
    also needs a majority of the four department heads.
    """

    TOPIC = "orders.PriceException"

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
        return cls(
            customer_id=customer_id,
            product_code=product.product_code,
            unit_price=unit_price,
            list_price=product.list_price,
            reduction_pct=reduction.quantize(Decimal("0.0001")),
            major=reduction > major_pct,
            reason=reason,
            meta=meta,
        )

    @event("PriceExceptionRequested", topic="orders.PriceException.PriceExceptionRequested")
    def __init__(
        self,
        customer_id: str,
        product_code: str,
        unit_price: Decimal,
        list_price: Decimal,
        reduction_pct: Decimal,
        major: bool,
        reason: str,
        meta: Meta,
    ) -> None:
        self.customer_id = customer_id
        self.product_code = product_code
        self.unit_price = unit_price
        self.list_price = list_price
        self.major = major
        self.gm_approved = False
        self.votes: dict[str, bool] = {}
        self.granted = False

    def approve(self, meta: Meta) -> None:
        require_role(meta, {Role.GENERAL_MANAGER}, "O2", "approve a price reduction")
        if self.gm_approved:
            raise InvalidState("the general manager already approved this exception", rule="O2")
        self._approved(customer_id=self.customer_id, by=meta.actor_id, meta=meta)
        self._grant_if_due(meta)

    @event("PriceExceptionApproved", topic="orders.PriceException.PriceExceptionApproved")
    def _approved(self, customer_id: str, by: str, meta: Meta) -> None:
        self.gm_approved = True

    def vote(self, in_favour: bool, meta: Meta) -> None:
        require_role(meta, DEPARTMENT_HEADS, "O2", "vote on a major price reduction")
        if not self.major:
            raise InvalidState("only a major reduction is put to the department heads", rule="O2")
        if meta.actor_role in self.votes:
            raise InvalidState(f"{meta.actor_role} already voted", rule="O2")
        self._voted(customer_id=self.customer_id, role=meta.actor_role, in_favour=in_favour, meta=meta)
        self._grant_if_due(meta)

    @event("PriceExceptionVoted", topic="orders.PriceException.PriceExceptionVoted")
    def _voted(self, customer_id: str, role: str, in_favour: bool, meta: Meta) -> None:
        self.votes[role] = in_favour

    def _grant_if_due(self, meta: Meta) -> None:
        majority = sum(self.votes.values()) * 2 > len(DEPARTMENT_HEADS)
        if self.gm_approved and (not self.major or majority) and not self.granted:
            self._granted(
                customer_id=self.customer_id,
                product_code=self.product_code,
                unit_price=self.unit_price,
                meta=meta,
            )

    @event("PriceExceptionGranted", topic="orders.PriceException.PriceExceptionGranted")
    def _granted(self, customer_id: str, product_code: str, unit_price: Decimal, meta: Meta) -> None:
        self.granted = True

    def covers(self, customer_id: str, product_code: str, unit_price: Decimal) -> bool:
        return (
            self.granted
            and self.customer_id == customer_id
            and self.product_code == product_code
            and money(unit_price) == self.unit_price
        )


# Orders (O1–O8, O10, O11) ---------------------------------------------------------------------------
class OrderStatus(StrEnum):
    ACCEPTED = "accepted"
    PENDING_CONTRACT = "pending_contract"
    ON_HOLD = "on_hold"
    SHIPPED = "shipped"
    PAID = "paid"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class LineRequest:
    product_code: str
    quantity: int
    unit_price: Decimal | None = None  # None: the list price
    price_exception: PriceException | None = None


def status_for(holds: Iterable[Mapping[str, str]]) -> OrderStatus:
    rules = {h["rule"] for h in holds}
    if "O4" in rules:
        return OrderStatus.PENDING_CONTRACT
    return OrderStatus.ON_HOLD if rules else OrderStatus.ACCEPTED


class Order(SalesAggregate):
    TOPIC = "orders.Order"

    @event("OrderPlaced", topic="orders.Order.OrderPlaced")
    def __init__(
        self,
        order_number: str,
        customer_id: str,
        customer_kind: str,
        region: str,
        salesperson_id: str,
        channel: str,
        lines: list[dict[str, Any]],
        total_amount: Decimal,
        status: str,
        holds: list[dict[str, str]],
        reservation_id: str | None,
        deposit_applied: Decimal,
        meta: Meta,
    ) -> None:
        self.order_number = order_number
        self.customer_id = customer_id
        self.customer_kind = customer_kind
        self.region = region
        self.salesperson_id = salesperson_id
        self.channel = channel
        self.lines = [dict(line) for line in lines]
        self.total_amount = total_amount
        self.status = OrderStatus(status)
        self.holds = [dict(h) for h in holds]
        self.reservation_id = reservation_id
        self.placed_on = local_date(meta.at)
        self.shipped: dict[str, int] = {}
        self.shipped_amount = Decimal("0.00")
        self.paid = deposit_applied

    @classmethod
    def place(
        cls,
        customer: CustomerSnapshot,
        account: CustomerAccount,
        channel: str,
        lines: list[dict[str, Any]],
        products: Mapping[str, Product],
        meta: Meta,
        reservation_id: str | None = None,
        deposit_applied: Decimal = Decimal("0.00"),
    ) -> Order:
        """O1 intake, with the checks that hold an order back (O4–O8); ``lines`` are priced already."""
        customer.require_can_trade("order")
        total = money(sum((line["amount"] for line in lines), Decimal("0")))
        order_day = local_date(meta.at)
        holds: list[dict[str, str]] = []
        if customer.is_distributor and not customer.has_contract_on(order_day):
            holds.append({"rule": "O4", "message": f"no valid distributor contract on {order_day}"})
        if account.overdue(meta.at):
            holds.append({"rule": "O5", "message": "overdue unpaid receivables must be settled first"})
        # O6/O7 count what the order will leave unpaid: a converted hold's deposit and the customer's
        # credit (O9) pay toward it at once, so they are neither a receivable nor capital taken.
        unpaid = max(total - deposit_applied - account.credit, Decimal("0.00"))
        if customer.kind == "branch":
            limit = customer.capital_limit or Decimal("0.00")
            if account.capital_occupied + unpaid > limit:
                holds.append({"rule": "O7", "message": f"capital occupied would exceed the limit {limit}"})
        elif account.outstanding + unpaid > customer.credit_limit:
            holds.append(
                {
                    "rule": "O6",
                    "message": f"receivables would exceed the credit limit {customer.credit_limit}",
                }
            )
        for code in sorted({line["product_code"] for line in lines}):
            if not products[code].in_production:
                holds.append({"rule": "O8", "message": f"{code} is not made yet: general manager review"})
        day = order_day.year * 10000 + order_day.month * 100 + order_day.day  # yyyymmdd: strftime took 2 µs
        number = f"SO{day}-{secrets.token_hex(4).upper()}"
        return cls(
            order_number=number,
            customer_id=customer.customer_id,
            customer_kind=customer.kind,
            region=customer.region,
            salesperson_id=customer.salesperson_id,
            channel=channel,
            lines=lines,
            total_amount=total,
            status=status_for(holds).value,
            holds=holds,
            reservation_id=reservation_id,
            deposit_applied=money(deposit_applied),
            meta=meta,
        )

    @staticmethod
    def price_line(request: LineRequest, product: Product, customer_id: str, meta: Meta) -> dict[str, Any]:
        """O2/O3: a line at list price, or off it only under a granted exception; only sales roles quote."""
        if request.unit_price is None:
            unit_price = product.list_price
        else:
            require_role(meta, SALES_ROLES, "O3", "enter a price")
            unit_price = money(request.unit_price)
            if unit_price != product.list_price and not (
                request.price_exception is not None
                and request.price_exception.covers(customer_id, product.product_code, unit_price)
            ):
                raise refuse(
                    "O2",
                    f"{product.product_code} at {unit_price} is off the list price {product.list_price} "
                    "and no granted price exception covers it",
                    product_code=product.product_code,
                    unit_price=str(unit_price),
                    list_price=str(product.list_price),
                )
        if request.quantity <= 0:
            raise refuse("O1", "a line's quantity must be positive", field="quantity")
        return {
            "product_code": product.product_code,
            "spec": product.spec,
            "quantity": request.quantity,
            "unit_price": unit_price,
            "amount": money(unit_price * request.quantity),
        }

    @property
    def open_amount(self) -> Decimal:
        """What the customer still owes or will owe for this order."""
        if self.status is OrderStatus.CANCELLED:
            return Decimal("0.00")
        return max(self.total_amount - self.paid, Decimal("0.00"))

    def release(
        self, rule: str, meta: Meta, by_event: bool = False, capital_limit: Decimal | None = None
    ) -> None:
        if not by_event:
            if rule not in RELEASERS:
                raise InvalidState(
                    f"a {rule} hold clears only by the event that fixes it",
                    rule=rule,
                    details={"releasable": sorted(RELEASERS)},
                )
            require_role(meta, RELEASERS[rule], rule, f"release an order held by {rule}")
        if rule not in {h["rule"] for h in self.holds}:
            raise InvalidState(
                f"the order is not held by {rule}", rule=rule, details={"status": self.status.value}
            )
        if rule == "O7":
            self._over_limit_approved(
                customer_id=self.customer_id, amount=self.total_amount, capital_limit=capital_limit, meta=meta
            )
        holds = [h for h in self.holds if h["rule"] != rule]
        self._released(
            customer_id=self.customer_id,
            rule=rule,
            by=meta.actor_id,
            status=status_for(holds).value,
            meta=meta,
        )

    @event("OverLimitApproved", topic="orders.Order.OverLimitApproved")
    def _over_limit_approved(
        self, customer_id: str, amount: Decimal, capital_limit: Decimal | None, meta: Meta
    ) -> None:
        pass

    @event("OrderReleased", topic="orders.Order.OrderReleased")
    def _released(self, customer_id: str, rule: str, by: str, status: str, meta: Meta) -> None:
        self.holds = [h for h in self.holds if h["rule"] != rule]
        self.status = OrderStatus(status)

    def held_by(self, rule: str) -> bool:
        return any(h["rule"] == rule for h in self.holds)

    def ship(self, shipment_id: str, quantities: Mapping[str, int], due_on: date, meta: Meta) -> Decimal:
        """O11: partial shipments allowed, never more than ordered; raises a receivable."""
        require_role(meta, SHIPPERS, "O11", "ship goods")
        if self.status is not OrderStatus.ACCEPTED:
            raise InvalidState(
                f"an order that is {self.status.value} cannot be shipped",
                rule="O11",
                details={"status": self.status.value},
            )
        ordered = {line["product_code"]: int(line["quantity"]) for line in self.lines}
        prices = {line["product_code"]: Decimal(line["unit_price"]) for line in self.lines}
        lines: list[dict[str, Any]] = []
        for code, quantity in quantities.items():
            left = ordered.get(code, 0) - self.shipped.get(code, 0)
            if quantity <= 0 or quantity > left:
                raise refuse(
                    "O11", f"{quantity} of {code} cannot be shipped; {left} left to ship", product_code=code
                )
            lines.append(
                {"product_code": code, "quantity": quantity, "amount": money(prices[code] * quantity)}
            )
        amount = money(sum((money(prices[code] * q) for code, q in quantities.items()), Decimal("0")))
        shipped = {code: self.shipped.get(code, 0) + quantities.get(code, 0) for code in ordered}
        complete = shipped == ordered
        self._shipped(
            customer_id=self.customer_id,
            shipment_id=shipment_id,
            lines=lines,
            amount=amount,
            due_on=due_on,
            status=(OrderStatus.SHIPPED if complete else OrderStatus.ACCEPTED).value,
            meta=meta,
        )
        return amount

    @event("OrderShipped", topic="orders.Order.OrderShipped")
    def _shipped(
        self,
        customer_id: str,
        shipment_id: str,
        lines: list[dict[str, Any]],
        amount: Decimal,
        due_on: date,
        status: str,
        meta: Meta,
    ) -> None:
        for line in lines:
            self.shipped[line["product_code"]] = self.shipped.get(line["product_code"], 0) + int(
                line["quantity"]
            )
        self.shipped_amount += amount
        self.status = OrderStatus(status)

    @property
    def receivable(self) -> Decimal:
        return max(self.shipped_amount - self.paid, Decimal("0.00"))

    def pay(self, amount: Decimal, meta: Meta) -> None:
        require_role(meta, CASHIERS, "O11", "record a payment")
        if amount <= 0 or amount > self.receivable:
            raise refuse(
                "O11", f"a payment is positive and at most the receivable {self.receivable}", field="amount"
            )
        fully = self.paid + amount >= self.total_amount and self.status is OrderStatus.SHIPPED
        self._paid(
            customer_id=self.customer_id,
            amount=money(amount),
            status=(OrderStatus.PAID if fully else self.status).value,
            meta=meta,
        )

    def apply_credit(self, amount: Decimal, meta: Meta) -> None:
        """O9: the customer's credit pays toward this order, as a converted hold's deposit does."""
        self._credit_applied(customer_id=self.customer_id, amount=money(amount), meta=meta)

    @event("CreditApplied", topic="orders.Order.CreditApplied")
    def _credit_applied(self, customer_id: str, amount: Decimal, meta: Meta) -> None:
        self.paid += amount

    @event("PaymentReceived", topic="orders.Order.PaymentReceived")
    def _paid(self, customer_id: str, amount: Decimal, status: str, meta: Meta) -> None:
        self.paid += amount
        self.status = OrderStatus(status)

    def cancel(self, reason: str, meta: Meta) -> None:
        require_role(meta, at_least(Role.SALES_MANAGER), "O1", "cancel an order")
        if self.shipped_amount > 0 or self.status in (OrderStatus.CANCELLED, OrderStatus.PAID):
            raise InvalidState(
                f"an order that is {self.status.value} or shipped cannot be cancelled", rule="O1"
            )
        self._cancelled(customer_id=self.customer_id, reason=reason, meta=meta)

    @event("OrderCancelled", topic="orders.Order.OrderCancelled")
    def _cancelled(self, customer_id: str, reason: str, meta: Meta) -> None:
        self.status = OrderStatus.CANCELLED


# The customer's account in orders: its orders, receivables, credit; the index for O5–O7, O12, O13 ---
class CustomerAccount(SalesAggregate):
    """Per customer: open amounts and due dates of its orders, deposit credit, and monthly/weekly quantities.

    It is the stored index that decides O5–O7 without reading every order, and the list of orders to
    release when a contract is signed (O4) or the overdue balance clears (O5).
    """

    TOPIC = "orders.CustomerAccount"
    # Every command on a customer copies its account: its entries are replaced, never changed in place,
    # so that a copy shares them (one entry per order the customer ever placed). An entry holds only
    # immutable values (its receivables a tuple of pairs): the garbage collector then stops tracking it,
    # and a service's full collections no longer walk every order of every account (they had grown to
    # 100-200 ms each, every second at saturation).
    SHARED_VALUES = frozenset({"orders", "ordered_by_week", "shipped_by_month"})

    @staticmethod
    def create_id(customer_id: str) -> UUID:
        return named_id(f"account:{customer_id}")

    @event("CustomerAccountOpened", topic="orders.CustomerAccount.CustomerAccountOpened")
    def __init__(self, customer_id: str, meta: Meta) -> None:
        self.customer_id = customer_id
        self.orders: dict[str, dict[str, Any]] = {}  # order id → {status, open, receivable, receivables}
        self.credit = Decimal("0.00")
        self.ordered_by_week: dict[str, dict[str, int]] = {}  # ISO week → product → units
        self.shipped_by_month: dict[str, dict[str, int]] = {}  # YYYY-MM → product → units
        self.reorder_points: dict[str, int] = {}
        self.reorder_month: str | None = None  # the month the points are for
        self.transit_days: int | None = None  # kept so the monthly job can compute the next month's

    def note_order(self, order: Order, meta: Meta) -> None:
        """Record the order's current status, open amount and unpaid receivables (after any change)."""
        self._order_noted(
            customer_id=self.customer_id,
            order_id=str(order.id),
            status=order.status.value,
            open_amount=order.open_amount,
            receivable=order.receivable,
            week=iso_week(order.placed_on),
            lines={line["product_code"]: int(line["quantity"]) for line in order.lines},
            meta=meta,
        )

    @event("AccountOrderNoted", topic="orders.CustomerAccount.AccountOrderNoted")
    def _order_noted(
        self,
        customer_id: str,
        order_id: str,
        status: str,
        open_amount: Decimal,
        receivable: Decimal,
        week: str,
        lines: dict[str, int],
        meta: Meta,
    ) -> None:
        entry = self.orders.get(order_id)
        if entry is None:
            entry = {"receivables": ()}  # ((amount, due), ...)
            self.ordered_by_week[week] = _added(self.ordered_by_week.get(week, {}), lines)
        self.orders[order_id] = {**entry, "status": status, "open": open_amount, "receivable": receivable}

    def note_shipment(
        self, order_id: str, amount: Decimal, due_on: date, quantities: Mapping[str, int], meta: Meta
    ) -> None:
        self._receivable_raised(
            customer_id=self.customer_id,
            order_id=order_id,
            amount=amount,
            due_on=due_on,
            month=f"{local_date(meta.at):%Y-%m}",
            quantities=dict(quantities),
            meta=meta,
        )

    @event("ReceivableRaised", topic="orders.CustomerAccount.ReceivableRaised")
    def _receivable_raised(
        self,
        customer_id: str,
        order_id: str,
        amount: Decimal,
        due_on: date,
        month: str,
        quantities: dict[str, int],
        meta: Meta,
    ) -> None:
        entry = self.orders[order_id]
        self.orders[order_id] = {**entry, "receivables": (*entry["receivables"], (amount, due_on))}
        self.shipped_by_month[month] = _added(self.shipped_by_month.get(month, {}), quantities)

    @property
    def outstanding(self) -> Decimal:
        """O6: shipped and unpaid (the zeros of most orders skipped: adding them cost 4x the look)."""
        return sum((unpaid for o in self.orders.values() if (unpaid := o["receivable"])), Decimal("0.00"))

    @property
    def capital_occupied(self) -> Decimal:
        """O7: what a branch has taken and not paid for yet (accepted, held or shipped orders)."""
        return sum((o["open"] for o in self.orders.values() if o["status"] != "cancelled"), Decimal("0.00"))

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

    def orders_held_by(self, rule: str, orders: Mapping[str, Order]) -> list[Order]:
        return [orders[oid] for oid in self.orders if oid in orders and orders[oid].held_by(rule)]

    def open_order_ids(self, statuses: Iterable[str]) -> list[str]:
        wanted = set(statuses)
        return [oid for oid, entry in self.orders.items() if entry["status"] in wanted]

    def note_contract(self, valid_from: date | None, valid_to: date | None, meta: Meta) -> None:
        self._contract_noted(
            customer_id=self.customer_id, valid_from=valid_from, valid_to=valid_to, meta=meta
        )

    @event("AccountContractNoted", topic="orders.CustomerAccount.AccountContractNoted")
    def _contract_noted(
        self, customer_id: str, valid_from: date | None, valid_to: date | None, meta: Meta
    ) -> None:
        pass

    def credit_deposit(self, hold_id: str, amount: Decimal, meta: Meta) -> None:
        if amount > 0:
            self._credited(customer_id=self.customer_id, hold_id=hold_id, amount=amount, meta=meta)

    @event("CustomerCreditAdded", topic="orders.CustomerAccount.CustomerCreditAdded")
    def _credited(self, customer_id: str, hold_id: str, amount: Decimal, meta: Meta) -> None:
        self.credit += amount

    def spend_credit(self, order: Order, meta: Meta) -> None:
        """O9 (decision): the credit pays toward the customer's next order, up to what the order leaves
        unpaid; what is left stays for the orders after it."""
        amount = min(self.credit, order.open_amount)
        if amount > 0:
            order.apply_credit(amount, meta)
            self._credit_used(customer_id=self.customer_id, order_id=str(order.id), amount=amount, meta=meta)

    @event("CustomerCreditUsed", topic="orders.CustomerAccount.CustomerCreditUsed")
    def _credit_used(self, customer_id: str, order_id: str, amount: Decimal, meta: Meta) -> None:
        self.credit -= amount

    def return_prepaid(self, order: Order, meta: Meta) -> None:
        """O1: what a cancelled order was paid before shipping (a hold's deposit, credit) goes back to the
        customer's credit (an order is cancelled only before it ships, so nothing else was paid)."""
        if order.paid > 0:
            self._credit_returned(
                customer_id=self.customer_id, order_id=str(order.id), amount=order.paid, meta=meta
            )

    @event("CustomerCreditReturned", topic="orders.CustomerAccount.CustomerCreditReturned")
    def _credit_returned(self, customer_id: str, order_id: str, amount: Decimal, meta: Meta) -> None:
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
        self._reorder_points_computed(
            customer_id=self.customer_id, month=month, transit_days=transit_days, points=points, meta=meta
        )
        return points

    @event("ReorderPointsComputed", topic="orders.CustomerAccount.ReorderPointsComputed")
    def _reorder_points_computed(
        self, customer_id: str, month: str, transit_days: int, points: dict[str, int], meta: Meta
    ) -> None:
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
        self._reorder_alert(
            customer_id=self.customer_id, product_code=product_code, stock=stock, reorder_point=rop, meta=meta
        )
        return True

    @event("ReorderAlertRaised", topic="orders.CustomerAccount.ReorderAlertRaised")
    def _reorder_alert(
        self, customer_id: str, product_code: str, stock: int, reorder_point: int, meta: Meta
    ) -> None:
        pass


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


# Holds (留货, O9) ------------------------------------------------------------------------------------
class HoldStatus(StrEnum):
    GUARANTEE_FILED = "guarantee_filed"
    GUARANTEE_AGREED = "guarantee_agreed"
    RESERVED = "reserved"
    CONVERTED = "converted"
    EXPIRED = "expired"


class Reservation(SalesAggregate):
    """O9: goods held for a customer against a deposit, or an economic guarantee approved in order."""

    TOPIC = "orders.Reservation"

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
        hold = cls(
            customer_id=customer.customer_id,
            product_code=product.product_code,
            quantity=quantity,
            amount=amount,
            salesperson_id=customer.salesperson_id,
            meta=meta,
        )
        hold._reserve(product, hours, required, meta)
        hold._deposit_received(customer_id=hold.customer_id, amount=money(deposit), meta=meta)
        return hold

    @classmethod
    def file_guarantee(
        cls, customer: CustomerSnapshot, product: Product, quantity: int, meta: Meta
    ) -> Reservation:
        require_role(meta, {Role.SALESPERSON}, "O9", "file an economic guarantee")
        customer.require_can_trade("reserve goods")
        hold = cls(
            customer_id=customer.customer_id,
            product_code=product.product_code,
            quantity=quantity,
            amount=money(product.list_price * quantity),
            salesperson_id=meta.actor_id,
            meta=meta,
        )
        hold._guarantee_filed(customer_id=customer.customer_id, by=meta.actor_id, meta=meta)
        return hold

    @event("ReservationRequested", topic="orders.Reservation.ReservationRequested")
    def __init__(
        self,
        customer_id: str,
        product_code: str,
        quantity: int,
        amount: Decimal,
        salesperson_id: str,
        meta: Meta,
    ) -> None:
        self.customer_id = customer_id
        self.product_code = product_code
        self.quantity = quantity
        self.amount = amount
        self.salesperson_id = salesperson_id
        self.status: HoldStatus | None = None
        self.expires_at: datetime | None = None
        self.deposit = Decimal("0.00")

    @event("GuaranteeFiled", topic="orders.Reservation.GuaranteeFiled")
    def _guarantee_filed(self, customer_id: str, by: str, meta: Meta) -> None:
        self.status = HoldStatus.GUARANTEE_FILED

    def agree_guarantee(self, meta: Meta) -> None:
        require_role(meta, {Role.SALES_MANAGER}, "O9", "agree an economic guarantee")
        if self.status is not HoldStatus.GUARANTEE_FILED:
            raise InvalidState("the sales manager agrees a guarantee the salesperson filed", rule="O9")
        self._guarantee_agreed(customer_id=self.customer_id, by=meta.actor_id, meta=meta)

    @event("GuaranteeAgreed", topic="orders.Reservation.GuaranteeAgreed")
    def _guarantee_agreed(self, customer_id: str, by: str, meta: Meta) -> None:
        self.status = HoldStatus.GUARANTEE_AGREED

    def approve_guarantee(self, product: Product, hours: int, meta: Meta) -> None:
        require_role(meta, {Role.GENERAL_MANAGER}, "O9", "approve an economic guarantee")
        if self.status is not HoldStatus.GUARANTEE_AGREED:
            raise InvalidState("the general manager approves only after the sales manager agreed", rule="O9")
        self._guarantee_approved(customer_id=self.customer_id, by=meta.actor_id, meta=meta)
        self._reserve(product, hours, Decimal("0.00"), meta)

    @event("GuaranteeApproved", topic="orders.Reservation.GuaranteeApproved")
    def _guarantee_approved(self, customer_id: str, by: str, meta: Meta) -> None:
        pass

    def _reserve(self, product: Product, hours: int, deposit_required: Decimal, meta: Meta) -> None:
        product.allocate(str(self.id), self.customer_id, self.quantity, "O9", meta)
        self._reserved(
            customer_id=self.customer_id,
            product_code=self.product_code,
            quantity=self.quantity,
            amount=self.amount,
            expires_at=hold_expiry(meta.at, hours),
            deposit_required=deposit_required,
            meta=meta,
        )

    @event("OrderReserved", topic="orders.Reservation.OrderReserved")
    def _reserved(
        self,
        customer_id: str,
        product_code: str,
        quantity: int,
        amount: Decimal,
        expires_at: datetime,
        deposit_required: Decimal,
        meta: Meta,
    ) -> None:
        self.status = HoldStatus.RESERVED
        self.expires_at = expires_at

    @event("DepositReceived", topic="orders.Reservation.DepositReceived")
    def _deposit_received(self, customer_id: str, amount: Decimal, meta: Meta) -> None:
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
        self._converted(
            customer_id=self.customer_id, order_id=order_id, deposit_applied=self.deposit, meta=meta
        )

    @event("ReservationConverted", topic="orders.Reservation.ReservationConverted")
    def _converted(self, customer_id: str, order_id: str, deposit_applied: Decimal, meta: Meta) -> None:
        self.status = HoldStatus.CONVERTED

    def expire(self, product: Product, account: CustomerAccount, meta: Meta) -> None:
        """The hold lapses by itself: its stock goes back, its deposit stays as the customer's credit."""
        if not self.is_due(meta.at):
            raise InvalidState(
                "the hold is not due to expire", rule="O9", details={"status": str(self.status)}
            )
        product.release(str(self.id), self.customer_id, meta)
        account.credit_deposit(str(self.id), self.deposit, meta)
        self._expired(customer_id=self.customer_id, deposit_credited=self.deposit, meta=meta)

    @event("ReservationExpired", topic="orders.Reservation.ReservationExpired")
    def _expired(self, customer_id: str, deposit_credited: Decimal, meta: Meta) -> None:
        self.status = HoldStatus.EXPIRED


class HoldBook(SalesAggregate):
    """The stored list of live holds and their expiry: what the expiry job reads to find the due ones."""

    TOPIC = "orders.HoldBook"

    @staticmethod
    def create_id() -> UUID:
        return named_id("holdbook")

    @event("HoldBookOpened", topic="orders.HoldBook.HoldBookOpened")
    def __init__(self, meta: Meta) -> None:
        self.live: dict[str, str] = {}  # hold id → expires_at (ISO, UTC)

    def add(self, hold: Reservation, meta: Meta) -> None:
        assert hold.expires_at is not None
        self._entered(hold_id=str(hold.id), expires_at=hold.expires_at, meta=meta)

    @event("HoldBookEntered", topic="orders.HoldBook.HoldBookEntered")
    def _entered(self, hold_id: str, expires_at: datetime, meta: Meta) -> None:
        self.live[hold_id] = expires_at.isoformat()

    def remove(self, hold_id: str, meta: Meta) -> None:
        if hold_id in self.live:
            self._left(hold_id=hold_id, meta=meta)

    @event("HoldBookLeft", topic="orders.HoldBook.HoldBookLeft")
    def _left(self, hold_id: str, meta: Meta) -> None:
        self.live.pop(hold_id, None)

    def due(self, now: datetime) -> list[str]:
        return sorted(h for h, at in self.live.items() if datetime.fromisoformat(at) <= now)


# Weekly request lists (O13) -------------------------------------------------------------------------
class RequestList(SalesAggregate):
    """O13: a branch's intended orders for next week (要货意向清单), due by the Friday 18:00 before it."""

    TOPIC = "orders.RequestList"

    @staticmethod
    def create_id(customer_id: str, week: str) -> UUID:
        return named_id(f"requests:{customer_id}:{week}")

    @classmethod
    def submit(cls, customer: CustomerSnapshot, week: str, lines: dict[str, int], meta: Meta) -> RequestList:
        require_role(meta, {Role.BRANCH_MANAGER}, "O13", "submit a weekly request list")
        if customer.kind != "branch":
            raise refuse("O13", "only a branch submits a weekly request list", kind=customer.kind)
        deadline = request_deadline(week)
        if meta.at > deadline:
            raise refuse(
                "O13", f"the list for {week} was due by {deadline.isoformat()}", deadline=deadline.isoformat()
            )
        if not lines or any(q <= 0 for q in lines.values()):
            raise refuse("O13", "a request list has lines with positive quantities", field="lines")
        return cls(
            customer_id=customer.customer_id,
            week=week,
            lines=[{"product_code": code, "quantity": quantity} for code, quantity in sorted(lines.items())],
            meta=meta,
        )

    @event("RequestListSubmitted", topic="orders.RequestList.RequestListSubmitted")
    def __init__(self, customer_id: str, week: str, lines: list[dict[str, Any]], meta: Meta) -> None:
        self.customer_id = customer_id
        self.week = week
        self.lines = {line["product_code"]: int(line["quantity"]) for line in lines}
        self.match_rate: Decimal | None = None

    def is_due_for_match(self, now: datetime) -> bool:
        return self.match_rate is None and now >= request_deadline(self.week) + timedelta(days=9)

    def match(self, ordered: Mapping[str, int], meta: Meta) -> Decimal:
        """Match rate = Σ min(listed, ordered) / Σ max(listed, ordered) over the products of either."""
        require_role(meta, at_least(Role.SALES_MANAGER) | {Role.SYSTEM}, "O13", "match a request list")
        if self.match_rate is not None:
            raise InvalidState(f"the list for {self.week} was matched already", rule="O13")
        if not self.is_due_for_match(meta.at):  # the week ends 9 days after the Friday deadline
            raise InvalidState(f"week {self.week} is not over yet", rule="O13")
        codes = set(self.lines) | set(ordered)
        top = sum(max(self.lines.get(c, 0), ordered.get(c, 0)) for c in codes)
        low = sum(min(self.lines.get(c, 0), ordered.get(c, 0)) for c in codes)
        rate = (Decimal(low) / Decimal(top)).quantize(Decimal("0.0001")) if top else Decimal("1.0000")
        self._matched(
            customer_id=self.customer_id, week=self.week, match_rate=rate, ordered=dict(ordered), meta=meta
        )
        return rate

    @event("RequestListMatched", topic="orders.RequestList.RequestListMatched")
    def _matched(
        self, customer_id: str, week: str, match_rate: Decimal, ordered: dict[str, int], meta: Meta
    ) -> None:
        self.match_rate = match_rate


def request_deadline(week: str) -> datetime:
    """Friday 18:00 Asia/Shanghai of the week before ``week`` (``YYYY-Www``)."""
    year, _, number = week.partition("-W")
    monday = date.fromisocalendar(int(year), int(number), 1)
    friday = monday - timedelta(days=3)
    return datetime(friday.year, friday.month, friday.day, 18, 0, tzinfo=BUSINESS_TZ)
