"""Orders (O1–O8, O10, O11): intake, the checks that hold an order back, shipments and payments."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from eventsourcing.domain import event

from services.orders.domain import events, returns
from services.orders.domain.common import (
    CASHIERS,
    SALES_ROLES,
    SHIPPERS,
    ContractEvents,
    CustomerSnapshot,
    local_date,
    money,
)
from services.orders.domain.order_status import (
    LIMIT_RULES,
    NO_CONTRACT,
    RELEASERS,
    OrderStatus,
    contract_holds,
    status_for,
)
from services.orders.domain.prices import PriceException
from services.orders.domain.products import Product
from shared.aggregate import Meta, SalesAggregate, at_least, refuse, require_role
from shared.contracts import Role
from shared.errors import InvalidState

if TYPE_CHECKING:
    from services.orders.domain.accounts import CustomerAccount


@dataclass(frozen=True)
class LineRequest:
    product_code: str
    quantity: int
    unit_price: Decimal | None = None  # None: the list price
    price_exception: PriceException | None = None


class Order(ContractEvents, SalesAggregate):
    TOPIC = "orders.Order"
    KEY = "customer_id"
    # Events it stores that change none of its state (the others are named by their ``@event`` method):
    OverLimitApproved = events.OverLimitApproved
    # O15 returns and exchanges, O16 corrections and delivery: methods from returns.py, so that the
    # library sees their events.
    returnable = returns.returnable
    request_return = returns.request_return
    _return_requested = returns._return_requested
    the_return = returns.the_return
    decide_return = returns.decide_return
    _return_approved = returns._return_approved
    _return_rejected = returns._return_rejected
    book_return = returns.book_return
    _return_booked = returns._return_booked
    ship_replacement = returns.ship_replacement
    _replacement_shipped = returns._replacement_shipped
    issue_credit_note = returns.issue_credit_note
    _credit_note_issued = returns._credit_note_issued
    report_shipment_problem = returns.report_shipment_problem
    _shipment_problem_reported = returns._shipment_problem_reported
    the_correction = returns.the_correction
    credit_correction = returns.credit_correction
    ship_correction = returns.ship_correction
    _correction_shipped = returns._correction_shipped
    the_shipment = returns.the_shipment
    accept_delivery = returns.accept_delivery
    _delivery_accepted = returns._delivery_accepted
    complete_if_done = returns.complete_if_done
    _completed = returns._completed

    @event(events.OrderPlaced)
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
        # shipment id → {on, lines: {product: units}, accepted_on, accepted_by} (O16)
        self.shipments: dict[str, dict[str, Any]] = {}
        self.returns: dict[str, dict[str, Any]] = {}  # return id → its lines, reason, status (O15)
        self.corrections: dict[str, dict[str, Any]] = {}  # correction id → shipment, lines, status (O16)
        self.returned_amount = Decimal("0.00")  # credit notes: off the order's sales (R2)
        self.refunded = Decimal("0.00")  # the part of credit notes paid back as customer credit
        self.completed_on: date | None = None
        self.limit_approved = False  # O6/O7: an excess over the limit was approved for this order

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
        holds = contract_holds(customer, account, lines, total, order_day) if customer.is_distributor else []
        if customer.orders_held:
            holds.append({"rule": "C11", "message": "a poor credit rating holds new orders until reviewed"})
        if account.overdue(meta.at):
            holds.append({"rule": "O5", "message": "overdue unpaid receivables must be settled first"})
        # O6/O7 add what the order will leave unpaid to the exposure: a converted hold's deposit and the
        # customer's credit (O9) pay toward it at once.
        unpaid = max(total - deposit_applied - account.credit, Decimal("0.00"))
        limit_hold = account.limit_hold(customer, unpaid)
        if limit_hold is not None:
            holds.append(limit_hold)
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
    def price_line(
        request: LineRequest, product: Product, customer: CustomerSnapshot, meta: Meta
    ) -> dict[str, Any]:
        """O2/O3: a line at list price, at the customer's prepayment tier price of the year (C8 rev 2), or
        off it only under a granted exception; only sales roles quote."""
        discount = customer.discount_in(local_date(meta.at).year)
        used: Decimal | None = None
        if request.unit_price is None:
            unit_price = product.list_price
        else:
            require_role(meta, SALES_ROLES, "O3", "enter a price")
            unit_price = money(request.unit_price)
            if discount is not None and unit_price == money(product.list_price * (1 - discount)):
                used = discount
            elif unit_price != product.list_price and not (
                request.price_exception is not None
                and request.price_exception.covers(customer.customer_id, product.product_code, unit_price)
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
            "discount_pct": used,  # C8: the prepayment tier the price used (absent on older orders)
        }

    @property
    def open_amount(self) -> Decimal:
        """What the customer still owes or will owe for this order (less its credit notes, O15/O16)."""
        if self.status is OrderStatus.CANCELLED:
            return Decimal("0.00")
        return max(self.total_amount - self.returned_amount - self.paid + self.refunded, Decimal("0.00"))

    def priced(self, product_code: str, quantity: int) -> dict[str, Any]:
        """``quantity`` units of one of the order's lines at its price (returns and corrections)."""
        unit_price = next(
            Decimal(line["unit_price"]) for line in self.lines if line["product_code"] == product_code
        )
        return {
            "product_code": product_code,
            "quantity": quantity,
            "unit_price": unit_price,
            "amount": money(unit_price * quantity),
        }

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
        if not by_event and any(h["rule"] == rule and h.get("term") == NO_CONTRACT for h in self.holds):
            raise InvalidState(
                "an order waiting for a contract clears only when one is signed",
                rule=rule,
                details={"term": NO_CONTRACT},
            )
        if rule == "O7":
            self.record(events.OverLimitApproved, meta, amount=self.total_amount, capital_limit=capital_limit)
        holds = [h for h in self.holds if h["rule"] != rule]
        self.record(events.OrderReleased, meta, rule=rule, by=meta.actor_id, status=status_for(holds).value)

    @event(events.OrderReleased)
    def _released(self, rule: str, status: str) -> None:
        self.holds = [h for h in self.holds if h["rule"] != rule]
        self.status = OrderStatus(status)
        self.limit_approved = self.limit_approved or rule in LIMIT_RULES

    def hold_if_over_limit(self, customer: CustomerSnapshot, account: CustomerAccount, meta: Meta) -> None:
        """O6/O7 rev 2: an order freed of its last other hold (O4, O5, O8, ...) becomes accepted only if
        the exposure at that moment still has room for it; otherwise it is held by O6 (O7 for a branch),
        so that several orders that each fitted when placed do not together pass the limit unapproved.
        An order whose excess was approved already stays accepted."""
        if self.status is not OrderStatus.ACCEPTED or self.limit_approved:
            return
        hold = account.limit_hold(customer, self.open_amount)
        if hold is not None:
            self.record(
                events.OrderHeld,
                meta,
                rule=hold["rule"],
                message=hold["message"],
                status=OrderStatus.ON_HOLD.value,
            )

    @event(events.OrderHeld)
    def _held(self, rule: str, message: str, status: str) -> None:
        self.holds = [*self.holds, {"rule": rule, "message": message}]
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
        self.record(
            events.OrderShipped,
            meta,
            shipment_id=shipment_id,
            lines=lines,
            amount=amount,
            due_on=due_on,
            status=(OrderStatus.SHIPPED if complete else OrderStatus.ACCEPTED).value,
        )
        return amount

    @event(events.OrderShipped)
    def _shipped(
        self, shipment_id: str, lines: list[dict[str, Any]], amount: Decimal, status: str, meta: Meta
    ) -> None:
        for line in lines:
            self.shipped[line["product_code"]] = self.shipped.get(line["product_code"], 0) + int(
                line["quantity"]
            )
        self.shipped_amount += amount
        self.status = OrderStatus(status)
        self.shipments[shipment_id] = {
            "on": local_date(meta.at).isoformat(),
            "lines": {line["product_code"]: int(line["quantity"]) for line in lines},
            "accepted_on": None,
            "accepted_by": None,
        }

    @property
    def receivable(self) -> Decimal:
        return max(self.shipped_amount - self.returned_amount - self.paid + self.refunded, Decimal("0.00"))

    def settle(self) -> None:
        """A shipped order whose net amount is paid (payments, credit notes) is paid."""
        if self.status is OrderStatus.SHIPPED and not self.open_amount:
            self.status = OrderStatus.PAID

    def pay(self, amount: Decimal, meta: Meta) -> None:
        require_role(meta, CASHIERS, "O11", "record a payment")
        if amount <= 0 or amount > self.receivable:
            raise refuse(
                "O11", f"a payment is positive and at most the receivable {self.receivable}", field="amount"
            )
        fully = amount >= self.open_amount and self.status is OrderStatus.SHIPPED
        self.record(
            events.PaymentReceived,
            meta,
            amount=money(amount),
            status=(OrderStatus.PAID if fully else self.status).value,
        )

    def apply_credit(self, amount: Decimal, meta: Meta) -> None:
        """O9: the customer's credit pays toward this order, as a converted hold's deposit does."""
        self.record(events.CreditApplied, meta, amount=money(amount))

    @event(events.CreditApplied)
    def _credit_applied(self, amount: Decimal) -> None:
        self.paid += amount

    @event(events.PaymentReceived)
    def _paid(self, amount: Decimal, status: str) -> None:
        self.paid += amount
        self.status = OrderStatus(status)

    def cancel(self, reason: str, meta: Meta) -> None:
        require_role(meta, at_least(Role.SALES_MANAGER), "O1", "cancel an order")
        if self.shipped_amount > 0 or self.status in (OrderStatus.CANCELLED, OrderStatus.PAID):
            raise InvalidState(
                f"an order that is {self.status.value} or shipped cannot be cancelled", rule="O1"
            )
        self.record(events.OrderCancelled, meta, reason=reason)

    @event(events.OrderCancelled)
    def _cancelled(self) -> None:
        self.status = OrderStatus.CANCELLED
