"""Orders application: the commands of O1–O14 on stored state, and the queries.

Customers are read from orders' own view (a ``CustomerDirectory``), never from the customers service.
"""

from __future__ import annotations

from typing import Any

from services.orders import commands as c
from services.orders.base import SYSTEM
from services.orders.domain import (
    ORDER_TAKERS,
    LineRequest,
    Order,
    PriceException,
    Product,
    Reservation,
    contract_holds,
)
from services.orders.domain.common import local_date, money
from services.orders.planning import Planning
from services.orders.results import (
    account_result,
    customer_view_result,
    exception_result,
    hold_result,
    order_result,
    product_result,
    security_json,
)
from shared.aggregate import Meta, SalesAggregate, refuse, require_role
from shared.contracts import Command, Role
from shared.errors import NotFound
from shared.orders_contract import ProductListing
from shared.store import Outcome


class OrdersApplication(Planning):
    """Every orders command and query; branch planning (O12, O13) in ``Planning``, returns and corrections
    (O15, O16) in ``Returns``, receivables (O11) in ``Receivables``, plumbing in ``OrdersBase``."""

    # Products and stock (O2, O8) ----------------------------------------------------------------
    def list_product(self, cmd: c.ListProduct) -> dict[str, Any]:
        def decide(meta: Meta) -> Outcome:
            fields = cmd.model_dump(include={"name", "spec", "list_price", "standard_cost", "in_production"})
            try:
                product = self._product(cmd.product_code)
            except NotFound:
                product = Product.list_new(product_code=cmd.product_code, meta=meta, **fields)
            else:
                product.relist(ProductListing(product_code=cmd.product_code, **fields), meta)
            return Outcome(product_result(product), [product])

        return self.execute(cmd, decide)

    def receive_stock(self, cmd: c.ReceiveStock) -> dict[str, Any]:
        def decide(meta: Meta) -> Outcome:
            product = self._product(cmd.product_code)
            product.receive(cmd.quantity, meta)
            return Outcome(product_result(product), [product])

        return self.execute(cmd, decide)

    # Price exceptions (O2, O3) ------------------------------------------------------------------
    def request_price_exception(self, cmd: c.RequestPriceException) -> dict[str, Any]:
        def decide(meta: Meta) -> Outcome:
            self._customer(cmd.customer_id)
            exception = PriceException.request(
                cmd.customer_id,
                self._product(cmd.product_code, to_change=False),
                cmd.unit_price,
                cmd.reason,
                self.settings.major_reduction_pct,
                meta,
            )
            return Outcome(exception_result(exception), [exception])

        return self.execute(cmd, decide)

    def approve_price_exception(self, cmd: c.ApprovePriceException) -> dict[str, Any]:
        return self.change(
            cmd, PriceException, cmd.exception_id, lambda e, meta: e.approve(meta), exception_result
        )

    def vote_price_exception(self, cmd: c.VotePriceException) -> dict[str, Any]:
        return self.change(
            cmd,
            PriceException,
            cmd.exception_id,
            lambda e, meta: e.vote(cmd.in_favour, meta),
            exception_result,
        )

    # Orders (O1–O8) ------------------------------------------------------------------------------
    def place_order(self, cmd: c.PlaceOrder) -> dict[str, Any]:
        def decide(meta: Meta) -> Outcome:
            require_role(meta, ORDER_TAKERS, "O1", "place an order")
            customer = self._customer(cmd.customer_id)
            if meta.actor_role == Role.BRANCH_MANAGER and customer.kind != "branch":
                raise refuse("O1", "a branch manager orders for a branch only", kind=customer.kind)
            codes = [line.product_code for line in cmd.lines]
            if len(set(codes)) != len(codes):
                raise refuse("O1", "one line per product", field="lines")
            products = {code: self._product(code, to_change=False) for code in codes}
            lines = [
                Order.price_line(
                    LineRequest(
                        line.product_code,
                        line.quantity,
                        line.unit_price,
                        self._get(PriceException, line.price_exception_id, "O2")
                        if line.price_exception_id
                        else None,
                    ),
                    products[line.product_code],
                    customer,
                    meta,
                )
                for line in cmd.lines
            ]
            account = self._account(customer.customer_id, meta)
            order = Order.place(customer, account, cmd.channel, lines, products, meta)
            account.spend_credit(order, meta)
            account.note_order(order, meta)
            changed: list[SalesAggregate] = [order, account]
            for line in lines:
                shortfall = line["quantity"] - products[line["product_code"]].available
                if shortfall > 0 and line["quantity"] >= self.settings.large_order_quantity:
                    product = self._product(line["product_code"])
                    product.request_production(str(order.id), customer.customer_id, shortfall, meta)
                    changed.append(product)
            return Outcome(order_result(order), changed)

        return self.execute(cmd, decide)

    def release_order(self, cmd: c.ReleaseOrder) -> dict[str, Any]:
        def decide(meta: Meta) -> Outcome:
            order = self._get(Order, cmd.order_id, "O1")
            customer = self._customer(order.customer_id)
            order.release(cmd.rule, meta, capital_limit=customer.capital_limit)
            self.in_scope(order)
            account = self._account(order.customer_id, meta)
            order.hold_if_over_limit(customer, account, meta)
            account.note_order(order, meta)
            # C11 rev 2: whoever releases sees the securities held against the customer's credit
            held = [security_json(s) for s in customer.securities]
            return Outcome({**order_result(order), "securities": held}, [order, account])

        return self.execute(cmd, decide)

    def release_for_contract(self, customer_id: str) -> dict[str, Any]:
        """O4: a contract was signed or its terms changed (seen on the bus): release the customer's orders
        waiting for one that the contract in force now allows (O4 rev 2: scope and remaining volume, the
        orders taken in the order they were placed).

        The account always records the contract, so an order decided at the same moment on the view
        from before the contract collides with this on the account's version and is decided again.
        """

        def decide(meta: Meta) -> Outcome:
            customer = self.customers.get(customer_id)
            if customer is None or not customer.has_contract_on(local_date(meta.at)):
                return Outcome({"released": []})
            account = self._account(customer_id, meta)
            account.note_contract(customer.contract_valid_from, customer.contract_valid_to, meta)
            released = []
            today = local_date(meta.at)  # the contract in force now, which may start after the order
            for order_id in account.open_order_ids(["pending_contract"]):
                order = self._get(Order, order_id, "O4")
                allowed = not contract_holds(
                    customer, account, order.lines, order.total_amount, today, order_id
                )
                if order.held_by("O4") and allowed:
                    order.release("O4", meta, by_event=True)
                    order.hold_if_over_limit(customer, account, meta)
                    account.note_order(order, meta)
                    released.append(order)
            return Outcome({"released": [str(o.id) for o in released]}, [*released, account])

        return self.execute(Command(actor=SYSTEM), decide)

    def cancel_order(self, cmd: c.CancelOrder) -> dict[str, Any]:
        def decide(meta: Meta) -> Outcome:
            order = self._get(Order, cmd.order_id, "O1")
            order.cancel(cmd.reason, meta)
            account = self._account(order.customer_id, meta)
            account.return_prepaid(order, meta)
            account.note_order(order, meta)
            return Outcome(order_result(order), [order, account])

        return self.execute(cmd, decide)

    # Holds (O9) --------------------------------------------------------------------------------
    def reserve_goods(self, cmd: c.ReserveGoods) -> dict[str, Any]:
        def decide(meta: Meta) -> Outcome:
            customer = self._customer(cmd.customer_id)
            product = self._product(cmd.product_code)
            hold = Reservation.with_deposit(
                customer,
                product,
                cmd.quantity,
                cmd.deposit,
                self.settings.hold_deposit_min_pct,
                self.settings.hold_hours,
                meta,
            )
            book = self._hold_book(meta)
            book.add(hold, meta)
            return Outcome(hold_result(hold), [hold, product, book])

        return self.execute(cmd, decide)

    def file_guarantee(self, cmd: c.FileGuarantee) -> dict[str, Any]:
        def decide(meta: Meta) -> Outcome:
            hold = Reservation.file_guarantee(
                self._customer(cmd.customer_id), self._product(cmd.product_code), cmd.quantity, meta
            )
            return Outcome(hold_result(hold), [hold])

        return self.execute(cmd, decide)

    def agree_guarantee(self, cmd: c.DecideGuarantee) -> dict[str, Any]:
        return self.change(
            cmd, Reservation, cmd.reservation_id, lambda h, meta: h.agree_guarantee(meta), hold_result
        )

    def approve_guarantee(self, cmd: c.DecideGuarantee) -> dict[str, Any]:
        def decide(meta: Meta) -> Outcome:
            hold = self._get(Reservation, cmd.reservation_id, "O9")
            product = self._product(hold.product_code)
            hold.approve_guarantee(product, self.settings.hold_hours, meta)
            self.in_scope(hold)
            book = self._hold_book(meta)
            book.add(hold, meta)
            return Outcome(hold_result(hold), [hold, product, book])

        return self.execute(cmd, decide)

    def convert_reservation(self, cmd: c.ConvertReservation) -> dict[str, Any]:
        def decide(meta: Meta) -> Outcome:
            hold = self._get(Reservation, cmd.reservation_id, "O9")
            customer = self._customer(hold.customer_id)
            product = self._product(hold.product_code)
            account = self._account(hold.customer_id, meta)
            line = {
                "product_code": hold.product_code,
                "spec": product.spec,
                "quantity": hold.quantity,
                "unit_price": money(hold.amount / hold.quantity),
                "amount": hold.amount,
            }
            order = Order.place(
                customer,
                account,
                cmd.channel,
                [line],
                {hold.product_code: product},
                meta,
                reservation_id=str(hold.id),
                deposit_applied=hold.deposit,
            )
            hold.convert(str(order.id), product, meta)
            account.spend_credit(order, meta)
            account.note_order(order, meta)
            book = self._hold_book(meta)
            book.remove(str(hold.id), meta)
            return Outcome(
                order_result(order) | {"deposit_applied": str(hold.deposit)},
                [order, hold, product, account, book],
            )

        return self.execute(cmd, decide)

    def expire_due_reservations(self) -> list[str]:
        """O9: expire every due hold, each decided together with its removal from the hold book (saved at
        once when the job runs it; from the bus, with the rest of the command worker's batch).

        Safe to run again or in two processes at once: a hold that is no longer live is only taken off
        the book, never expired a second time.
        """

        def decide(meta: Meta, hold_id: str) -> Outcome:
            hold = self._get(Reservation, hold_id, "O9")
            current = self._hold_book(meta)
            current.remove(hold_id, meta)
            if not hold.is_due(meta.at):  # converted, expired already, or not due: just tidy the book
                return Outcome({"expired": False}, [current])
            product = self._product(hold.product_code)
            account = self._account(hold.customer_id, meta)
            hold.expire(product, account, meta)
            return Outcome({"expired": True}, [hold, product, account, current])

        book = self._hold_book_or_none()
        return self.run_job(book.due(self.clock.now()) if book else [], decide, "expired")

    def expire_reservations(self, cmd: c.ExpireReservations) -> dict[str, Any]:
        self.require_job_role(cmd, {Role.SYSTEM, Role.GENERAL_MANAGER}, "O9", "expire holds")
        return {"expired": self.expire_due_reservations()}

    # Queries -----------------------------------------------------------------------------------
    def get_order(self, query: c.GetOrder) -> dict[str, Any]:
        return order_result(self._get(Order, query.order_id, None))

    def get_product(self, query: c.GetProduct) -> dict[str, Any]:
        return product_result(self._product(query.product_code, to_change=False))

    def get_reservation(self, query: c.GetReservation) -> dict[str, Any]:
        return hold_result(self._get(Reservation, query.reservation_id, None))

    def get_account(self, query: c.GetAccount) -> dict[str, Any]:
        account = self._account_or_none(query.customer_id)
        if account is None:
            raise NotFound(f"no orders for customer {query.customer_id}")
        return account_result(account, self.clock.now())

    def get_customer_view(self, query: c.GetCustomerView) -> dict[str, Any]:
        return customer_view_result(self._customer(query.customer_id))
