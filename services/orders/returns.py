"""Returns and exchanges (O15), shipment corrections and delivery acceptance (O16) on stored state.

A credit note lowers the order's receivable and so the customer's exposure (O6/O7); what it gives back on
goods already paid becomes the customer's credit (as an expired hold's deposit does, O9).
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from services.orders import commands as c
from services.orders.domain import Order
from services.orders.domain.common import refuse
from services.orders.receivables import Receivables
from services.orders.results import order_result
from shared.aggregate import Meta, SalesAggregate
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
            products = [self._product(line["product_code"]) for line in booked["lines"]]
            for product, line in zip(products, booked["lines"], strict=True):
                product.take_back(str(order.id), order.customer_id, int(line["quantity"]), meta)
            changed: list[SalesAggregate] = [order, *products]
            if not booked["exchange"]:
                changed += self._credit(order, "return", cmd.return_id, booked["lines"], meta)
            return Outcome(order_result(order), changed)

        return self.execute(cmd, decide)

    def ship_replacement(self, cmd: c.ReturnStep) -> dict[str, Any]:
        def decide(meta: Meta) -> Outcome:
            order = self._get(Order, cmd.order_id, "O15")
            replaced = order.ship_replacement(cmd.return_id, meta)
            products = [self._product(line["product_code"]) for line in replaced["lines"]]
            for product, line in zip(products, replaced["lines"], strict=True):
                product.ship(str(order.id), order.customer_id, int(line["quantity"]), meta)
            return Outcome(order_result(order), [order, *products])

        return self.execute(cmd, decide)

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
        def decide(meta: Meta) -> Outcome:
            order = self._get(Order, cmd.order_id, "O16")
            corrected = order.ship_correction(cmd.correction_id, meta)
            products = [self._product(line["product_code"]) for line in corrected["lines"]]
            for product, line in zip(products, corrected["lines"], strict=True):
                product.ship(str(order.id), order.customer_id, int(line["quantity"]), meta)
            return Outcome(order_result(order), [order, *products])

        return self.execute(cmd, decide)

    def accept_delivery(self, cmd: c.AcceptDelivery) -> dict[str, Any]:
        return self.change(
            cmd,
            Order,
            cmd.order_id,
            lambda o, meta: o.accept_delivery(cmd.shipment_id, cmd.accepted_on, cmd.accepted_by, meta),
            order_result,
        )

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
