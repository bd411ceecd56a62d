"""Receivables (O11, O5): shipments raise them on the customer's own payment terms, payments settle them,
finance records the opening ones at adoption, and the reminder job raises "due soon" and "overdue" once each.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from services.orders import commands as c
from services.orders.base import OrdersBase
from services.orders.domain import CustomerAccount, Order
from services.orders.domain.common import local_date, named_id
from services.orders.results import order_result
from shared.aggregate import Meta, refuse
from shared.contracts import Role
from shared.store import Outcome


class Receivables(OrdersBase):
    def ship_order(self, cmd: c.ShipOrder) -> dict[str, Any]:
        def decide(meta: Meta) -> Outcome:
            order = self._get(Order, cmd.order_id, "O11")
            quantities = {line.product_code: line.quantity for line in cmd.lines}
            if len(quantities) != len(cmd.lines):
                raise refuse("O11", "one line per product", field="lines")
            customer = self.customers.get(order.customer_id)  # shipping never waits for the view
            own = customer.payment_terms_days if customer is not None else None
            terms = self.settings.payment_terms_days if own is None else own
            due_on = local_date(meta.at) + timedelta(days=terms)
            amount = order.ship(str(uuid.uuid4()), quantities, due_on, meta)
            products = [self._product(code) for code in quantities]
            for product in products:
                product.ship(str(order.id), order.customer_id, quantities[product.product_code], meta)
            account = self._account(order.customer_id, meta)
            account.note_order(order, meta)
            account.note_shipment(str(order.id), amount, due_on, quantities, meta)
            book = self._due_book(meta)
            index = len(account.orders[str(order.id)]["receivables"]) - 1
            book.add(order.customer_id, f"{order.id}#{index}", due_on, meta)
            return Outcome(
                order_result(order) | {"due_on": due_on.isoformat()}, [order, account, *products, book]
            )

        return self.execute(cmd, decide)

    def record_payment(self, cmd: c.RecordPayment) -> dict[str, Any]:
        def decide(meta: Meta) -> Outcome:
            order = self._get(Order, cmd.order_id, "O11")
            order.pay(cmd.amount, meta)
            account = self._account(order.customer_id, meta)
            account.note_order(order, meta)
            released = self._release_settled(account, meta)
            result = order_result(order) | {"released": [str(o.id) for o in released]}
            return Outcome(result, [order, account, *released])

        return self.execute(cmd, decide)

    def record_opening_receivable(self, cmd: c.RecordOpeningReceivable) -> dict[str, Any]:
        def decide(meta: Meta) -> Outcome:
            customer = self._customer(cmd.customer_id)
            receivable_id = str(named_id(f"opening:{customer.customer_id}:{cmd.invoice_number}"))
            account = self._account(customer.customer_id, meta)
            account.record_opening(
                receivable_id, cmd.invoice_number, cmd.amount, cmd.invoice_date, cmd.due_date, meta
            )
            book = self._due_book(meta)
            book.add(customer.customer_id, f"{receivable_id}#0", cmd.due_date, meta)
            return Outcome(self._opening_result(account, receivable_id), [account, book])

        return self.execute(cmd, decide)

    def record_opening_payment(self, cmd: c.RecordOpeningPayment) -> dict[str, Any]:
        def decide(meta: Meta) -> Outcome:
            account = self._account(cmd.customer_id, meta)
            account.pay_opening(cmd.receivable_id, cmd.amount, meta)
            released = self._release_settled(account, meta)
            result = self._opening_result(account, cmd.receivable_id) | {
                "released": [str(o.id) for o in released]
            }
            return Outcome(result, [account, *released])

        return self.execute(cmd, decide)

    def remind_due_receivables(self) -> list[str]:
        """O11: raise each reminder that is due, once: "due soon" ``receivable_reminder_days`` before the due
        date, "overdue" the day after it; a receivable found paid leaves the book without one.

        Decided from the stored due book, so a repeated, restarted or concurrent run never reminds twice.
        """

        def decide(meta: Meta, receivable_id: str) -> Outcome:
            current = self._due_book(meta)
            if receivable_id not in current.live:
                return Outcome({"reminded": False})
            customer_id, due_on, was_reminded = current.live[receivable_id]
            entry_id, index = receivable_id.rsplit("#", 1)
            account = self._account(customer_id, meta)
            overdue = local_date(meta.at).isoformat() > due_on
            if not account.receivable_left(entry_id, int(index)):
                current.remove(receivable_id, meta)  # settled: nothing to remind of, ever
                return Outcome({"reminded": False}, [current])
            if overdue:
                account.remind(entry_id, int(index), overdue=True, meta=meta)
                current.remove(receivable_id, meta)
            elif not was_reminded:
                account.remind(entry_id, int(index), overdue=False, meta=meta)
                current.mark_reminded(receivable_id, meta)
            else:
                return Outcome({"reminded": False})
            return Outcome({"reminded": True}, [account, current])

        book = self._due_book_or_none()
        today = local_date(self.clock.now())
        return self.run_job(
            book.due(today, self.settings.receivable_reminder_days) if book else [], decide, "reminded"
        )

    def remind_receivables(self, cmd: c.RemindReceivables) -> dict[str, Any]:
        self.require_job_role(cmd, {Role.SYSTEM, Role.FINANCE}, "O11", "send receivable reminders")
        return {"reminded": self.remind_due_receivables()}

    def _release_settled(self, account: CustomerAccount, meta: Meta) -> list[Order]:
        """O5: once no receivable is overdue, the orders held for it go on (each re-checked against the
        limit, O6/O7, with the exposure of those released before it)."""
        released: list[Order] = []
        if not account.overdue(meta.at):
            for order_id in account.open_order_ids(["on_hold", "pending_contract"]):
                held = self._get(Order, order_id, "O5")
                if held.held_by("O5"):
                    held.release("O5", meta, by_event=True)
                    held.hold_if_over_limit(self._customer(held.customer_id), account, meta)
                    account.note_order(held, meta)
                    released.append(held)
        return released

    @staticmethod
    def _opening_result(account: CustomerAccount, receivable_id: str) -> dict[str, Any]:
        entry = account.orders[receivable_id]
        (amount, due_on), *_ = entry["receivables"]
        return {
            "id": receivable_id,
            "customer_id": account.customer_id,
            "amount": str(amount),
            "due_on": due_on.isoformat(),
            "receivable": str(entry["receivable"]),
        }
