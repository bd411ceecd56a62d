"""Branch planning (O12 reorder points and stock alerts, O13 weekly request lists): the orders commands and
the monthly and weekly jobs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from services.orders import commands as c
from services.orders.base import SYSTEM
from services.orders.domain import CustomerAccount, RequestList
from services.orders.domain.common import iso_week, local_date
from services.orders.returns import Returns
from shared.aggregate import Meta
from shared.contracts import Command
from shared.errors import InvalidState, NotFound
from shared.store import Outcome


class Planning(Returns):
    def compute_reorder_points(self, cmd: c.ComputeReorderPoints) -> dict[str, Any]:
        def decide(meta: Meta) -> Outcome:
            customer = self._branch(cmd.customer_id, "O12")
            account = self._account(customer.customer_id, meta)
            points = account.compute_reorder_points(cmd.month, cmd.transit_days, meta)
            return Outcome(
                {"id": customer.customer_id, "month": cmd.month, "reorder_points": points}, [account]
            )

        return self.execute(cmd, decide)

    def compute_due_reorder_points(self) -> list[str]:
        """O12, monthly: each branch whose points are for an earlier month gets this month's.

        Decided from stored state (the month on the branch's account), so a repeated or restarted run
        computes each branch's month once.
        """
        month = f"{local_date(self.clock.now()):%Y-%m}"

        def due(account: CustomerAccount | None) -> bool:
            return (
                account is not None
                and account.transit_days is not None
                and (account.reorder_month or "") < month
            )

        def decide(meta: Meta, customer_id: str) -> Outcome:
            current = self._account(customer_id, meta)
            if not due(current) or current.transit_days is None:
                return Outcome({"computed": False})
            current.compute_reorder_points(month, current.transit_days, meta)
            return Outcome({"computed": True}, [current])

        branches = [b for b in self.customers.branches() if due(self._account_or_none(b))]
        return self.run_job(branches, decide, "computed")

    def report_branch_stock(self, cmd: c.ReportBranchStock) -> dict[str, Any]:
        def decide(meta: Meta) -> Outcome:
            customer = self._branch(cmd.customer_id, "O12")
            account = self._account(customer.customer_id, meta)
            alert = account.report_stock(cmd.product_code, cmd.stock, meta)
            return Outcome({"id": customer.customer_id, "alert": alert}, [account])

        return self.execute(cmd, decide)

    def submit_request_list(self, cmd: c.SubmitRequestList) -> dict[str, Any]:
        def decide(meta: Meta) -> Outcome:
            customer = self._customer(cmd.customer_id)
            if self._exists(RequestList.create_id(cmd.customer_id, cmd.week)):
                raise InvalidState(f"the list for {cmd.week} was submitted already", rule="O13")
            lines: dict[str, int] = {}
            for line in cmd.lines:
                lines[line.product_code] = lines.get(line.product_code, 0) + line.quantity
            request_list = RequestList.submit(customer, cmd.week, lines, meta)
            return Outcome({"id": str(request_list.id), "week": cmd.week, "lines": lines}, [request_list])

        return self.execute(cmd, decide)

    def match_request_list(self, cmd: c.MatchRequestList) -> dict[str, Any]:
        return self.execute(cmd, self._match(cmd.customer_id, cmd.week))

    def match_due_request_lists(self) -> list[str]:
        """O13, weekly: match each branch's lists of the last four weeks that are over and not matched yet."""
        today = local_date(self.clock.now())
        matched = []
        for customer_id in self.customers.branches():
            for weeks_ago in range(1, 5):
                week = iso_week(today - timedelta(weeks=weeks_ago))
                try:
                    request_list = self._get(
                        RequestList, str(RequestList.create_id(customer_id, week)), "O13"
                    )
                except NotFound:
                    continue
                if request_list.is_due_for_match(self.clock.now()):
                    self.execute(Command(actor=SYSTEM), self._match(customer_id, week))
                    matched.append(str(request_list.id))
        return matched

    def _match(self, customer_id: str, week: str) -> Callable[[Meta], Outcome]:
        def decide(meta: Meta) -> Outcome:
            request_list = self._get(RequestList, str(RequestList.create_id(customer_id, week)), "O13")
            account = self._account_or_none(customer_id)
            rate = request_list.match(account.ordered_by_week.get(week, {}) if account else {}, meta)
            return Outcome(
                {"id": str(request_list.id), "week": week, "match_rate": str(rate)}, [request_list]
            )

        return decide
