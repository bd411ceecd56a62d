"""Returns and exchanges (O15), shipment corrections and delivery acceptance (O16) on stored state.

A credit note lowers the order's receivable and so the customer's exposure (O6/O7); what it gives back on
goods already paid becomes the customer's credit (as an expired hold's deposit does, O9).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from services.orders import commands as c
from services.orders.domain import Order, Product
from services.orders.receivables import Receivables
from services.orders.results import order_result
from shared.aggregate import Meta, SalesAggregate, refuse
from shared.store import Outcome


class Returns(Receivables):
    def request_return(self, cmd: c.RequestReturn) -> dict[str, Any]:
        def decide(meta: Meta) -> Outcome:
            order = self._get(Order, cmd.order_id, "O15")
            quantities = _quantities(cmd.lines, "O15")
            return_id = str(uuid.uuid4())
            order.request_return(return_id, quantities, cmd.reason, cmd.complaint_id, cmd.exchange, meta)
            return Outcome(order_result(order) | {"return_id": return_id}, [order])

        return self.execute(cmd, decide)

    def approve_return(self, cmd: c.ReturnStep) -> dict[str, Any]:
        return self.change(
            cmd,
            Order,
            cmd.order_id,
            lambda o, meta: o.decide_return(cmd.return_id, True, "", meta),
            order_result,
        )

    def reject_return(self, cmd: c.RejectReturn) -> dict[str, Any]:
        return self.change(
            cmd,
            Order,
            cmd.order_id,
            lambda o, meta: o.decide_return(cmd.return_id, False, cmd.reason, meta),
            order_result,
        )

    def book_return(self, cmd: c.ReturnStep) -> dict[str, Any]:
        def decide(meta: Meta) -> Outcome:
            order = self._get(Order, cmd.order_id, "O15")
            booked = order.book_return(cmd.return_id, meta)
            changed: list[SalesAggregate] = [
                order,
                *self._move_stock(order, booked["lines"], meta, back=True),
            ]
            if not booked["exchange"]:
                changed += self._credit(order, "return", cmd.return_id, booked["lines"], meta)
            return Outcome(order_result(order), changed)

        return self.execute(cmd, decide)

    def ship_replacement(self, cmd: c.ReturnStep) -> dict[str, Any]:
        return self._ship_again(cmd, "O15", lambda order, meta: order.ship_replacement(cmd.return_id, meta))

    def report_shipment_problem(self, cmd: c.ReportShipmentProblem) -> dict[str, Any]:
        def decide(meta: Meta) -> Outcome:
            order = self._get(Order, cmd.order_id, "O16")
            correction_id = str(uuid.uuid4())
            order.report_shipment_problem(
                correction_id,
                cmd.shipment_id,
                cmd.problem,
                _quantities(cmd.lines, "O16"),
                self.settings.shipment_correction_days,
                meta,
            )
            return Outcome(order_result(order) | {"correction_id": correction_id}, [order])

        return self.execute(cmd, decide)

    def credit_shipment(self, cmd: c.CorrectShipment) -> dict[str, Any]:
        def decide(meta: Meta) -> Outcome:
            order = self._get(Order, cmd.order_id, "O16")
            credit_note_id = str(uuid.uuid4())
            to_credit = order.credit_correction(cmd.correction_id, credit_note_id, meta)
            account = self._refund(order, credit_note_id, to_credit, meta)
            return Outcome(order_result(order), [order, account])

        return self.execute(cmd, decide)

    def ship_correction(self, cmd: c.CorrectShipment) -> dict[str, Any]:
        return self._ship_again(
            cmd, "O16", lambda order, meta: order.ship_correction(cmd.correction_id, meta)
        )

    def accept_delivery(self, cmd: c.AcceptDelivery) -> dict[str, Any]:
        return self.change(
            cmd,
            Order,
            cmd.order_id,
            lambda o, meta: o.accept_delivery(cmd.shipment_id, cmd.accepted_on, cmd.accepted_by, meta),
            order_result,
        )

    def _ship_again(
        self, cmd: c.ReturnStep | c.CorrectShipment, rule: str, ship: Callable[[Order, Meta], dict[str, Any]]
    ) -> dict[str, Any]:
        """A replacement (O15) or a correction (O16) shipped: the lines ``ship`` has the order record leave
        stock."""

        def decide(meta: Meta) -> Outcome:
            order = self._get(Order, cmd.order_id, rule)
            products = self._move_stock(order, ship(order, meta)["lines"], meta)
            return Outcome(order_result(order), [order, *products])

        return self.execute(cmd, decide)

    def _move_stock(
        self, order: Order, lines: list[dict[str, Any]], meta: Meta, back: bool = False
    ) -> list[Product]:
        """Each line's quantity of its product leaves stock for the order (``back``: comes back into it)."""
        products = [self._product(line["product_code"]) for line in lines]
        for product, line in zip(products, lines, strict=True):
            move = product.take_back if back else product.ship
            move(str(order.id), order.customer_id, int(line["quantity"]), meta)
        return products

    def _credit(
        self, order: Order, source: str, source_id: str, lines: list[dict[str, Any]], meta: Meta
    ) -> list[SalesAggregate]:
        credit_note_id = str(uuid.uuid4())
        to_credit = order.issue_credit_note(credit_note_id, source, source_id, lines, meta)
        return [self._refund(order, credit_note_id, to_credit, meta)]

    def _refund(self, order: Order, credit_note_id: str, to_credit: Decimal, meta: Meta) -> SalesAggregate:
        """The account learns the order's lower receivable (O6/O7 exposure) and any credit given back."""
        account = self._account(order.customer_id, meta)
        account.credit_refund(str(order.id), credit_note_id, to_credit, meta)
        account.note_order(order, meta)
        return account


def _quantities(lines: list[c.ShipLine], rule: str) -> dict[str, int]:
    quantities = {line.product_code: line.quantity for line in lines}
    if len(quantities) != len(lines):
        raise refuse(rule, "one line per product", field="lines")
    return quantities
