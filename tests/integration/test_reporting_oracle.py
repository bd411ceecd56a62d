"""The oracle (issue 21): random flows through the bus against the real services (customers, orders,
complaints and reporting, in-process, on PostgreSQL and NATS), and every figure reporting exposes for them
compared with a recomputation written here from DOMAIN.md alone, never from reporting's code. The one
exposure measure (O6/O7/R3 rev 2) is also read from orders itself (``get_account``): orders, reporting and
the recomputation agree to the cent for every customer, returns (O15) and opening receivables (O11) included;
a return's credit note leaves the net sales of its period (R2 rev 2). Customers are reassigned and moved
(C10): a sale counts for the salesperson (R7) and in the region (R5) of its time, a customer in its region
at the period's end; securities expiring within 30 days are on the alerts list (C11, R12); feedback counts
per region and assignee (P8); the monthly review's flags (R8). The recomputation itself is in
``oracle_model.py``.

Each example is a flow of its own customers, salesperson and region, in a year of its own (the shared clock
jumps two years per example), so that its periods hold only its own activity. What the recomputation
takes from the services' replies is only what another service decides (whether an order was accepted or
held, O4–O8; a hold's expiry moment, O9); every figure is summed here.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import string
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, event, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from services.complaints.api import register as register_complaints
from services.complaints.application import ComplaintsApplication
from services.complaints.main import background as complaints_background
from services.complaints.scopes import SCHEMA as COMPLAINTS_VIEW
from services.orders.commands import ListProduct
from shared.clock import BUSINESS_TZ, FixedClock
from shared.customer_directory import PostgresCustomerDirectory
from shared.database import ensure_database
from shared.settings import Settings
from tests.builders import (
    FINANCE,
    GM,
    MARKETING,
    PRODUCTION,
    REGIONAL,
    SALES_MANAGER,
    SUPERVISOR,
    SYSTEM,
    prospect,
)
from tests.conftest import Requester, service_running, wait_for
from tests.integration.oracle_model import (
    CENTS,
    PRICES,
    ZERO,
    Customer,
    Hold,
    Model,
    Opening,
    Order,
    growth,
    money,
    period_end,
    period_of,
    shifted,
)
from tests.integration.orders_kit import customers_running, orders_running
from tests.integration.reporting_kit import reporting_running

pytestmark = pytest.mark.integration

CLOCK = FixedClock(datetime(2040, 1, 10, 2, tzinfo=UTC))
VP = {"id": "vp-1", "role": "sales_vp"}
RELEASERS = {"O6": SALES_MANAGER, "O7": MARKETING}
FINES = {"minor": Decimal(100), "moderate": Decimal(150), "serious": Decimal(200)}
EXAMPLES = itertools.count()
# Every distributor of the module with its approval moment: a period's ranking counts them all (R2).
DISTRIBUTORS: dict[str, datetime] = {}


# ---------------------------------------------------------------- the flow, through the bus


Step = tuple[Any, ...]
order_step = st.tuples(
    st.just("order"), st.integers(0, 2), st.sampled_from(sorted(PRICES)), st.integers(1, 40)
)
ship_step = st.tuples(st.just("ship"), st.integers(0, 30), st.booleans())
pay_step = st.tuples(st.just("pay"), st.integers(0, 30), st.booleans())
release_step = st.tuples(st.just("release"), st.integers(0, 30))
return_step = st.tuples(st.just("return"), st.integers(0, 30), st.booleans())
# O11: an opening receivable of a customer (hundreds), due some days from now (before now: overdue, O5)
opening_step = st.tuples(st.just("opening"), st.integers(0, 2), st.integers(1, 30), st.integers(-40, 40))
steps = st.lists(
    st.one_of(
        order_step,
        order_step,  # orders, releases, shipments and payments twice as likely as the rest
        st.tuples(st.just("cancel"), st.integers(0, 30)),
        release_step,
        release_step,
        ship_step,
        ship_step,
        pay_step,
        pay_step,
        st.tuples(st.just("hold"), st.integers(0, 2), st.sampled_from(sorted(PRICES)), st.integers(1, 20)),
        st.tuples(st.just("convert"), st.integers(0, 10)),
        return_step,
        opening_step,
        st.tuples(st.just("pay_opening"), st.integers(0, 10), st.booleans()),
        st.tuples(st.just("advance"), st.integers(1, 12)),
        st.tuples(st.just("complaint"), st.integers(0, 2), st.sampled_from(["quality", *FINES])),
        st.tuples(st.just("import"), st.integers(0, 2), st.integers(1, 3), st.integers(1, 90)),
        # C10: a customer reassigned to the other salesperson, or moved to the other region
        st.tuples(st.just("reassign"), st.integers(0, 2)),
        st.tuples(st.just("move"), st.integers(0, 2)),
        # P8: a customer's feedback (kind, major or not)
        st.tuples(
            st.just("feedback"),
            st.integers(0, 2),
            st.sampled_from(["suggestion", "inquiry", "praise", "other"]),
            st.booleans(),
        ),
        # C11: a security (hundreds) expiring some days from now
        st.tuples(st.just("security"), st.integers(0, 2), st.integers(1, 50), st.integers(1, 60)),
    ),
    min_size=4,
    max_size=30,
)
kinds = st.lists(st.sampled_from(["dealer", "agent", "branch"]), min_size=3, max_size=3)
limits = st.lists(st.sampled_from(["3000", "20000", "1000000"]), min_size=3, max_size=3)


@dataclass
class Flow:
    request_: Requester
    model: Model
    complaints_directory: PostgresCustomerDirectory

    async def call(self, service: str, name: str, body: dict[str, Any], kind: str = "cmd") -> dict[str, Any]:
        reply = await self.request_(service, kind, name, body)
        assert reply["ok"], (name, body, reply)
        if kind == "cmd":
            event(name)  # which commands the examples ran (--hypothesis-show-statistics)
        return dict(reply["result"])

    async def customer(self, index: int, kind: str, limit: str) -> str:
        m = self.model
        body = prospect(kind) | {
            "region": m.region,
            "salesperson_id": m.salesperson,
            "company_name": f"{kind} {index}",
        }
        cid = (await self.call("customers", "register_prospect", body))["customer_id"]
        await self.call(
            "customers",
            "investigate_credit",
            {"actor": FINANCE, "customer_id": cid, "rating": "good", "credit_limit": limit},
        )
        approved = await self.call("customers", "approve_customer", {"actor": SUPERVISOR, "customer_id": cid})
        last = approved
        if kind != "branch":
            DISTRIBUTORS[cid] = CLOCK.now()
        if kind == "branch":
            last = await self.call(
                "customers",
                "set_capital_limit",
                {"actor": MARKETING, "customer_id": cid, "capital_limit": limit},
            )
        else:
            last = await self.call(
                "customers",
                "sign_contract",
                {
                    "actor": REGIONAL,
                    "customer_id": cid,
                    "contract_number": f"HT-{cid[:8]}",
                    "valid_from": "2039-01-01",
                    "valid_to": "2099-12-31",
                },
            )
        m.customers[cid] = Customer(kind, approved["code"], CLOCK.now(), Decimal(limit))
        m.salesperson_of[cid], m.region_of[cid] = m.salesperson, m.region
        await self.known_to_orders(cid, last["version"])
        await self.known_to_complaints(cid)
        return cid

    async def known_to_orders(self, cid: str, version: int) -> None:
        """Orders' customer view has taken in the customer's events up to ``version``."""

        async def known() -> bool:
            reply = await self.request_("orders", "query", "get_customer_view", {"customer_id": cid})
            return bool(reply["ok"] and reply["result"]["version"] >= version)

        await wait_for(known)

    async def known_to_complaints(self, cid: str) -> None:
        """Complaints' customer directory has the customer's salesperson and region now (its scopes)."""
        wanted = (self.model.salesperson_of[cid], self.model.region_of[cid])

        async def known() -> bool:
            found = await asyncio.to_thread(self.complaints_directory.get, cid)
            return found is not None and (found.salesperson_id, found.region) == wanted

        await wait_for(known)

    def working(self, cid: str) -> dict[str, str]:
        """The customer's salesperson now: only they act on it (scopes)."""
        return {"id": self.model.salesperson_of[cid], "role": "salesperson"}

    async def run(self, step: Step, customers: list[str]) -> None:
        # Time moves on between two steps, as it does between two people's actions: no two steps share a
        # moment, so "before" and "after" a move (C10) mean the same to the model and to reporting.
        CLOCK.advance(timedelta(seconds=1))
        m, now = self.model, CLOCK.now()
        kind = step[0]
        if kind == "order":
            cid, product, quantity = customers[step[1]], step[2], step[3]
            placed = await self.call(
                "orders",
                "place_order",
                {
                    "actor": self.working(cid),
                    "customer_id": cid,
                    "channel": "phone",
                    "lines": [{"product_code": product, "quantity": quantity}],
                },
            )
            total = PRICES[product][0] * quantity
            held = [h["rule"] for h in placed["holds"]]
            m.placed(placed["id"], Order(cid, product, quantity, total, placed["status"], held), now)
        elif kind == "cancel":
            open_ = [
                (i, o)
                for i, o in m.orders.items()
                if o.status not in ("cancelled", "paid") and not o.receivables
            ]
            if open_:
                order_id, order = open_[step[1] % len(open_)]
                await self.call(
                    "orders",
                    "cancel_order",
                    {"actor": SALES_MANAGER, "order_id": order_id, "reason": "withdrawn"},
                )
                m.cancelled(order, now)
        elif kind == "release":
            # O6/O7: the excess approved (sales manager, marketing director); other holds clear by events
            held = [
                (i, o)
                for i, o in m.orders.items()
                if o.status != "cancelled" and o.holds and set(o.holds) <= RELEASERS.keys()
            ]
            if held:
                order_id, order = held[step[1] % len(held)]
                rule = order.holds[0]
                released = await self.call(
                    "orders", "release_order", {"actor": RELEASERS[rule], "order_id": order_id, "rule": rule}
                )
                order.holds.remove(rule)
                order.status = released["status"]
                if rule == "O7":
                    m.add(order.customer, now, over_limit_approvals=1)
        elif kind == "ship":
            ready = [(i, o) for i, o in m.orders.items() if o.status == "accepted"]
            if ready:
                order_id, order = ready[step[1] % len(ready)]
                left = order.quantity - order.shipped_quantity
                quantity = left if step[2] else max(1, left // 2)
                await self.call(
                    "orders",
                    "ship_order",
                    {
                        "actor": PRODUCTION,
                        "order_id": order_id,
                        "lines": [{"product_code": order.product, "quantity": quantity}],
                    },
                )
                amount = PRICES[order.product][0] * quantity
                order.shipped_quantity += quantity
                # O11: due after the payment terms (30 days, none agreed here), counted in business days
                order.receivables.append((amount, now.astimezone(BUSINESS_TZ).date() + timedelta(days=30)))
                order.status = "shipped" if order.shipped_quantity == order.quantity else "accepted"
                m.add(order.customer, now, shipped_amount=amount)
        elif kind == "pay":
            owed = [(i, o) for i, o in m.orders.items() if o.shipped > o.paid]
            if owed:
                order_id, order = owed[step[1] % len(owed)]
                receivable = order.shipped - order.paid
                amount = receivable if step[2] else max(CENTS, (receivable / 2).quantize(CENTS))
                paid = await self.call(
                    "orders",
                    "record_payment",
                    {"actor": FINANCE, "order_id": order_id, "amount": str(amount)},
                )
                order.paid += amount
                if order.paid >= order.total and order.status == "shipped":
                    order.status = "paid"
                m.add(order.customer, now, paid_amount=amount)
                await self.released(paid["released"])
        elif kind == "return":
            await self.returned(step[1], step[2])
        elif kind == "opening":
            cid, amount = customers[step[1]], Decimal(step[2] * 100)
            due = now.astimezone(BUSINESS_TZ).date() + timedelta(days=step[3])
            recorded = await self.call(
                "orders",
                "record_opening_receivable",
                {
                    "actor": FINANCE,
                    "customer_id": cid,
                    "invoice_number": f"INV-{len(m.openings) + 1}",
                    "amount": str(amount),
                    "invoice_date": (due - timedelta(days=30)).isoformat(),
                    "due_date": due.isoformat(),
                },
            )
            m.openings[recorded["id"]] = Opening(cid, amount, due)
        elif kind == "pay_opening":
            unpaid = [(i, r) for i, r in m.openings.items() if r.amount > r.paid]
            if unpaid:
                receivable_id, receivable = unpaid[step[1] % len(unpaid)]
                left = receivable.amount - receivable.paid
                amount = left if step[2] else max(CENTS, (left / 2).quantize(CENTS))
                paid = await self.call(
                    "orders",
                    "record_opening_payment",
                    {
                        "actor": FINANCE,
                        "customer_id": receivable.customer,
                        "receivable_id": receivable_id,
                        "amount": str(amount),
                    },
                )
                receivable.paid += amount
                await self.released(paid["released"])
        elif kind == "hold":
            cid, product, quantity = customers[step[1]], step[2], step[3]
            amount = PRICES[product][0] * quantity
            deposit = (amount / 10).quantize(CENTS, ROUND_HALF_UP) + CENTS  # O9: at least 10 %
            reserved = await self.call(
                "orders",
                "reserve_goods",
                {
                    "actor": self.working(cid),
                    "customer_id": cid,
                    "product_code": product,
                    "quantity": quantity,
                    "deposit": str(deposit),
                },
            )
            expires = datetime.fromisoformat(reserved["expires_at"])
            m.holds[reserved["id"]] = Hold(cid, product, quantity, amount, deposit, expires)
            m.add(cid, now, holds_made=1, deposits=deposit)
        elif kind == "convert":
            live = [(i, h) for i, h in m.holds.items() if h.live and h.expires_at > now]
            if live:
                hold_id, hold = live[step[1] % len(live)]
                placed = await self.call(
                    "orders",
                    "convert_reservation",
                    {"actor": self.working(hold.customer), "reservation_id": hold_id},
                )
                hold.live = False
                m.add(hold.customer, now, holds_converted=1)
                held = [h["rule"] for h in placed["holds"]]
                order = Order(hold.customer, hold.product, hold.quantity, hold.amount, placed["status"], held)
                m.placed(placed["id"], order, now, deposit=hold.deposit)
        elif kind == "advance":
            CLOCK.advance(timedelta(days=step[1]))
            now = CLOCK.now()
            await self.call("orders", "expire_reservations", {"actor": SYSTEM})
            for hold in m.holds.values():
                if hold.live and hold.expires_at <= now:  # O9: expired; its deposit stays as credit
                    hold.live = False
                    m.credit[hold.customer] += hold.deposit
                    m.add(hold.customer, now, holds_expired=1)
        elif kind == "complaint":
            await self.complaint(customers[step[1]], step[2], now)
        elif kind == "import":
            await self.imported(customers[step[1]], step[2], step[3])
        elif kind in ("reassign", "move"):
            await self.upkeep(kind, customers[step[1]])
        elif kind == "feedback":
            cid, feedback_kind, major = customers[step[1]], step[2], step[3]
            await self.call(
                "complaints",
                "log_feedback",
                {
                    "actor": self.working(cid),
                    "kind": feedback_kind,
                    "customer_id": cid,
                    "content": "oracle",
                    "assigned_to": m.answerer,
                    "major": major,
                },
            )
            m.feedback.append((period_of(now), m.region_of[cid], feedback_kind, major))
        elif kind == "security":
            cid, value = customers[step[1]], Decimal(step[2] * 100)
            expires_on = now.astimezone(BUSINESS_TZ).date() + timedelta(days=step[3])
            await self.call(
                "customers",
                "record_security",
                {
                    "actor": SALES_MANAGER,
                    "customer_id": cid,
                    "security_kind": "mortgage",
                    "value": str(value),
                    "holder": "oracle",
                    "expires_on": expires_on.isoformat(),
                },
            )
            m.securities.append((cid, value, expires_on))

    async def upkeep(self, kind: str, cid: str) -> None:
        """C10: the customer goes to the other salesperson (or region); sales after it count there."""
        m = self.model
        if kind == "reassign":
            other = f"{m.salesperson}-b" if m.salesperson_of[cid] == m.salesperson else m.salesperson
            changed = await self.call(
                "customers",
                "reassign_customer",
                {"actor": SUPERVISOR, "customer_id": cid, "salesperson_id": other, "reason": "oracle"},
            )
            m.salesperson_of[cid] = other
        else:
            other = f"{m.region}X" if m.region_of[cid] == m.region else m.region
            changed = await self.call(
                "customers",
                "move_customer_region",
                {"actor": REGIONAL, "customer_id": cid, "region": other, "reason": "oracle"},
            )
            m.region_of[cid] = other
            m.moves.append((CLOCK.now(), cid, other))
        await self.known_to_orders(cid, changed["version"])
        await self.known_to_complaints(cid)

    async def released(self, order_ids: list[str]) -> None:
        """O5 cleared: the orders it held go on, unless O6/O7 now holds them (as orders decided)."""
        for order_id in order_ids:
            found = await self.call("orders", "get_order", {"order_id": order_id}, "query")
            order = self.model.orders[order_id]
            order.status, order.holds = found["status"], [h["rule"] for h in found["holds"]]

    async def returned(self, index: int, everything: bool) -> None:
        """O15: shipped units taken back; the credit note settles the receivable first, the rest becomes
        the customer's credit."""
        m = self.model
        shipped = [(i, o) for i, o in m.orders.items() if o.shipped_quantity > o.returned_quantity]
        if not shipped:
            return
        order_id, order = shipped[index % len(shipped)]
        left = order.shipped_quantity - order.returned_quantity
        quantity = left if everything else max(1, left // 2)
        lines = [{"product_code": order.product, "quantity": quantity}]
        requested = await self.call(
            "orders",
            "request_return",
            {"actor": self.working(order.customer), "order_id": order_id, "lines": lines, "reason": "excess"},
        )
        step = {"order_id": order_id, "return_id": requested["return_id"]}
        await self.call("orders", "approve_return", step | {"actor": SALES_MANAGER})
        await self.call("orders", "book_return", step | {"actor": PRODUCTION})
        amount = PRICES[order.product][0] * quantity
        to_receivable = min(amount, max(order.shipped - order.paid, ZERO))
        order.returned_quantity += quantity
        m.credited(order, quantity, amount, CLOCK.now())
        order.paid += to_receivable
        m.credit[order.customer] += amount - to_receivable
        if order.paid >= order.total and order.status == "shipped":
            order.status = "paid"

    async def complaint(self, cid: str, severity: str, now: datetime) -> None:
        m = self.model
        clerk = self.working(cid)  # complaints' scopes: the customer's own salesperson logs it
        if severity == "quality":  # P2: registered with its product, to the sales manager in person
            body = {
                "complaint_type": "quality",
                "order_id": None,
                "receipt_number": "FH-1",
                "product_name": "valve",
                "spec": "DN50",
                "quantity": 3,
                "purchase_date": "2039-12-01",
                "assigned_to": "sm-1",
                "assigned_role": "sales_manager",
            }
            m.add(cid, now, quality_complaints=1)
        else:
            body = {
                "complaint_type": "service",
                "staff_id": m.salesperson,
                "assigned_to": "vp-1",
                "assigned_role": "sales_vp",
            }
            m.add(cid, now, service_complaints=1)
        logged = await self.call(
            "complaints",
            "log_complaint",
            {"actor": clerk, "customer_id": cid, "description": "oracle", **body},
        )
        m.staff[period_of(now), m.salesperson]["complaints"] += 1 if severity != "quality" else 0
        if severity == "quality":
            return
        await self.call(
            "complaints",
            "verify_complaint",
            {"actor": VP, "complaint_id": logged["complaint_id"], "valid": True, "severity": severity},
        )
        # P5: criticism and a fine by severity; from the third valid one within 12 months (a flow spans less)
        # a dismissal recommendation
        m.add(cid, now, fines=FINES[severity])
        staff = m.staff[period_of(now), m.salesperson]
        staff["penalties"] += 1
        staff["fines"] += FINES[severity]
        m.valid_complaints += 1
        if m.valid_complaints >= 3:
            staff["dismissals"] += 1

    async def imported(self, cid: str, months_before: int, hundreds: int) -> None:
        """R14: a line of past sales, in a period before the flow's first."""
        m = self.model
        period = shifted(period_of(self.started), -months_before)
        code = m.customers[cid].code
        if (code, period) in m.imported:
            return
        amount = Decimal(hundreds * 100)
        content = "customer_code,period,ordered_amount,shipped_amount,paid_amount,quantity\n"
        content += f"{code},{period},{money(amount)},{money(amount)},{money(amount / 2)},{hundreds}\n"
        await self.call(
            "reporting",
            "import_history",
            {"actor": FINANCE, "file_name": f"{code}-{period}.csv", "content": content},
        )
        m.imported.add((code, period))
        row = m.figures[cid, period]
        row["ordered_amount"] += amount
        m.regions[period, m.region_of[cid]][1] += amount  # R5: the customer's region at the import
        row["shipped_amount"] += amount
        row["paid_amount"] += amount / 2
        row["quantity"] += hundreds

    @property
    def started(self) -> datetime:
        return min(c.approved_at for c in self.model.customers.values())


# ---------------------------------------------------------------- the comparison

# R2's figures of a distributor, the oracle's own list (not the report's: a figure the report loses is then
# a difference found, not a figure left unchecked).
R2_COUNTS = (
    *("orders", "orders_cancelled", "credit_notes", "quantity"),
    *("holds_made", "holds_converted", "holds_expired"),
    *("quality_complaints", "service_complaints"),
)
R2_MONEYS = (
    *("ordered_amount", "cancelled_amount", "returned_amount", "shipped_amount", "paid_amount"),
    *("deposits", "fines"),
)


def expected_distributor_row(m: Model, cid: str, period: str) -> dict[str, Any]:
    row = m.figures.get((cid, period), {})
    previous = m.figures.get((cid, shifted(period, -1)), {}).get("ordered_amount", ZERO)
    last_year = m.figures.get((cid, shifted(period, -12)), {}).get("ordered_amount", ZERO)
    current = row.get("ordered_amount", ZERO)
    end = period_end(period)
    # R2: ranked by net sales among every distributor with figures or approved by the period's end
    others = [
        m.figures.get((other, period), {}).get("ordered_amount", ZERO)
        for other, approved in DISTRIBUTORS.items()
        if approved < end or (other, period) in m.figures
    ]
    figures = {
        **{name: int(row.get(name, ZERO)) for name in R2_COUNTS},
        **{name: money(row.get(name, ZERO)) for name in R2_MONEYS},
    }
    return {
        **figures,
        "previous_amount": money(previous),
        "growth_vs_previous": growth(current, previous),
        "last_year_amount": money(last_year),
        "growth_vs_last_year": growth(current, last_year),
        "rank": 1 + sum(1 for amount in others if amount > current),
    }


def key_customers(m: Model, period: str, limit: int = 10) -> dict[str, list[dict[str, Any]]]:
    """R4: the top 10 by net sales, by growth vs the previous period, by margin over the products'
    standard cost; of the customers with sales in the period."""
    entries = []
    for (cid, p), row in m.figures.items():
        sales = row.get("ordered_amount", ZERO)
        if p != period or sales <= 0:
            continue
        before = m.figures.get((cid, shifted(period, -1)), {}).get("ordered_amount", ZERO)
        costed = sum((a for (c, pp, _), (_, a) in m.products.items() if c == cid and pp == period), ZERO)
        cost = sum(
            (
                q * PRICES[code][1]
                for (c, pp, code), (q, _) in m.products.items()
                if c == cid and pp == period
            ),
            ZERO,
        )
        margin = ((costed - cost) / costed).quantize(Decimal("0.0001"), ROUND_HALF_UP) if costed else None
        entries.append(
            {
                "customer_id": cid,
                "sales": money(sales),
                "previous_amount": money(before),
                "growth_rate": growth(sales, before),
                "margin": str(margin) if margin is not None else None,
            }
        )

    def top(key: str | None) -> list[dict[str, Any]]:
        chosen = [e for e in entries if key is None or e[key] is not None]
        chosen.sort(key=lambda e: (-Decimal(str(e[key or "sales"])), e["customer_id"]))
        return chosen[:limit]

    return {"by_sales": top(None), "by_growth": top("growth_rate"), "by_margin": top("margin")}


def review_flags(m: Model, period: str) -> list[tuple[str, str]]:
    """R8 (decision): a distributor in the top 3 by net sales, with sales, that grew (or has nothing to grow
    from) is flagged for reward; one whose sales fell or were zero in each of the last 3 periods for channel
    optimisation."""
    flags = []
    for cid, customer in m.customers.items():
        if customer.kind == "branch":
            continue
        if (cid, period) not in m.figures and customer.approved_at >= period_end(period):
            continue  # not in the period's report
        row = expected_distributor_row(m, cid, period)
        grew = row["growth_vs_previous"] is None or Decimal(row["growth_vs_previous"]) > 0
        if row["rank"] <= 3 and Decimal(row["ordered_amount"]) > 0 and grew:
            flags.append((cid, "reward"))
        series = [m.figures.get((cid, shifted(period, -i)), {}).get("ordered_amount", ZERO) for i in range(4)]
        if all(series[i] < series[i + 1] or series[i] == 0 for i in range(3)):
            flags.append((cid, "channel_optimisation"))
    return sorted(flags)


def expected_region(m: Model, period: str, region: str) -> dict[str, Any]:
    """R5 (C10): sales in the region they were made in; customers in the region they were in at the period's
    end (approved by then)."""
    end = period_end(period)
    orders, sales = m.regions.get((period, region), [ZERO, ZERO])
    products = sorted(
        (code, f"{q.normalize():f}", money(a))
        for (p, r, code), (q, a) in m.region_products.items()
        if p == period and r == region and (q or a)
    )
    kinds: dict[str, int] = defaultdict(int)
    for cid, customer in m.customers.items():
        if customer.approved_at < end and m.region_at(cid, end) == region:
            kinds[customer.kind] += 1
    return {
        "sales_amount": money(sales),
        "orders": int(orders),
        "products": products,
        "customers_by_kind": kinds,
    }


def reported_region(report: dict[str, Any], region: str) -> dict[str, Any]:
    """A region's R5 row (a region without customers or sales in the period has none: all zero)."""
    row = next((r for r in report["rows"] if r["region"] == region), None)
    if row is None:
        return {"sales_amount": "0.00", "orders": 0, "products": [], "customers_by_kind": {}}
    return {
        **row,
        "products": sorted(
            (x["product_code"], x["quantity"], x["amount"])
            for x in row["products"]
            if x["quantity"] != "0" or x["amount"] != "0.00"
        ),
    }


async def differences(flow: Flow, request_: Requester) -> list[tuple[Any, ...]]:
    m = flow.model
    today = CLOCK.now().astimezone(BUSINESS_TZ).date()
    periods = sorted({p for _, p in m.figures} | {p for p, *_ in m.feedback} | {period_of(CLOCK.now())})
    found: list[tuple[Any, ...]] = []

    def compare(where: Any, expected: dict[str, Any], actual: dict[str, Any] | None) -> None:
        for name, value in expected.items():
            got = None if actual is None else actual.get(name)
            if got != value:
                found.append((where, name, value, got))

    for period in periods:
        dist = await flow.call("reporting", "distributor_monthly", {"period": period}, "query")
        rows = {r["customer_id"]: r for r in dist["rows"]}
        branches = await flow.call("reporting", "branch_monthly", {"period": period}, "query")
        branch_rows = {r["customer_id"]: r for r in branches["rows"]}
        for cid, customer in m.customers.items():
            if customer.kind == "branch":
                row = m.figures.get((cid, period), {})
                exposure = m.exposure(cid)
                expected = {
                    **{
                        n: money(row.get(n, ZERO))
                        for n in (
                            "ordered_amount",
                            "cancelled_amount",
                            "returned_amount",
                            "shipped_amount",
                            "paid_amount",
                        )
                    },
                    **{n: int(row.get(n, ZERO)) for n in ("orders", "orders_cancelled", "credit_notes")},
                    "capital_occupied": money(exposure),
                    "capital_limit": money(customer.limit),
                    "over_limit_approvals": int(row.get("over_limit_approvals", ZERO)),
                    "over_capital_limit": exposure > customer.limit,
                }
                compare(("R3", period, customer.code), expected, branch_rows.get(cid))
            elif (cid, period) in m.figures or customer.approved_at < period_end(period):
                compare(
                    ("R2", period, customer.code), expected_distributor_row(m, cid, period), rows.get(cid)
                )
        review = await flow.call("reporting", "monthly_review", {"period": period}, "query")
        flagged = sorted(
            (f["customer_id"], f["flag"]) for f in review["flags"] if f["customer_id"] in m.customers
        )
        if flagged != review_flags(m, period):
            found.append((("R8", period), "flags", review_flags(m, period), flagged))
        staff = await flow.call("reporting", "staff", {"period": period}, "query")
        for salesperson in (m.salesperson, f"{m.salesperson}-b"):  # C10: the one who sold, at the time
            mine = next((r for r in staff["rows"] if r["staff_id"] == salesperson), None)
            s = m.staff.get((period, salesperson), {})
            if s or mine:
                compare(
                    ("R7", period, salesperson),
                    {
                        "orders": int(s.get("orders", ZERO)),
                        "amount": money(s.get("amount", ZERO)),
                        "complaints": int(s.get("complaints", ZERO)),
                        "penalties": int(s.get("penalties", ZERO)),
                        "fines": money(s.get("fines", ZERO)),
                        "dismissal_recommendations": int(s.get("dismissals", ZERO)),
                    },
                    mine,
                )
        top = await flow.call("reporting", "key_customers", {"period": period}, "query")
        expected_top = key_customers(m, period)
        for ranking, expected_list in expected_top.items():
            got = [
                {k: r[k] for k in ("customer_id", "sales", "previous_amount", "growth_rate", "margin")}
                for r in top[ranking]
            ]
            if got != expected_list:
                found.append((("R4", period), ranking, expected_list, got))
        regions = await flow.call("reporting", "regions", {"period": period}, "query")
        for name in (m.region, f"{m.region}X"):
            compare(("R5", period, name), expected_region(m, period, name), reported_region(regions, name))
    owed = await flow.call("reporting", "receivables", {"on": today.isoformat()}, "query")
    owed_rows = {r["customer_id"]: r for r in owed["rows"]}
    for cid, customer in m.customers.items():
        ages = m.ageing(cid, today)
        used = m.exposure(cid)
        expected = {
            **{k: money(v) for k, v in ages.items()},
            "receivable": money(sum(ages.values(), ZERO)),
            "credit_used": money(used),
            "credit_limit": money(customer.limit),
        }
        if m.owes(cid):
            compare(("R12", customer.code), expected, owed_rows.get(cid))
            # O6/O7/R3 rev 2: orders decides by the same figure reporting shows, to the cent
            account = await flow.call("orders", "get_account", {"customer_id": cid}, "query")
            reported = owed_rows.get(cid, {}).get("credit_used")
            compare(
                ("O6/O7 exposure", customer.code),
                {"orders": money(used), "orders capital_occupied": money(used), "reporting": money(used)},
                {
                    "orders": account["exposure"],
                    "orders capital_occupied": account["capital_occupied"],
                    "reporting": reported,
                },
            )
    # P8: feedback per region (the customer's at the time) and per the staff member it is assigned to
    for period in periods:
        figures = await flow.call("reporting", "service_figures", {"period": period}, "query")
        for name in (m.region, f"{m.region}X"):
            expected_feedback = m.feedback_figures(period, name)
            got_region = next((r for r in figures["regions"] if r["region"] == name), None)
            if expected_feedback is None:
                if got_region is not None:
                    found.append((("P8", period, name), "row", None, got_region))
            else:
                compare(("P8", period, name), expected_feedback, got_region)
        assigned = sum(1 for p, *_ in m.feedback if p == period)
        got_staff = next((r for r in figures["staff"] if r["staff_id"] == m.answerer), None)
        if assigned or got_staff:
            compare(("P8 staff", period), {"feedback_assigned": assigned}, got_staff)
    # C11/R12: every security held expiring within 30 days is on the alerts list
    alerts = await flow.call("reporting", "alerts", {}, "query")
    expiring = sorted(
        (cid, money(value), expires.isoformat())
        for cid, value, expires in m.securities
        if expires <= today + timedelta(days=30)
    )
    alerted = sorted(
        (a["customer_id"], a["amount"], a["expires_on"])
        for a in alerts["alerts"]
        if a["alert"] == "security_expiring" and a["customer_id"] in m.customers
    )
    if alerted != expiring:
        found.append(("C11 alerts", "security_expiring", expiring, alerted))
    year = int(period_of(flow.started)[:4])
    annual = await flow.call("reporting", "annual_statistics", {"year": year}, "query")
    annual_rows = {r["customer_id"]: r for r in annual["rows"]}
    for cid, customer in m.customers.items():
        amounts = [
            money(m.figures.get((cid, f"{year}-{month:02d}"), {}).get("ordered_amount", ZERO))
            for month in range(1, 13)
        ]
        if any(a != "0.00" for a in amounts):
            compare(("R6", year, customer.code), {"ordered_amounts": amounts}, annual_rows.get(cid))
    return found


@pytest.fixture(scope="module")
async def system(settings: Settings) -> AsyncIterator[PostgresCustomerDirectory]:
    """The services in-process; complaints' customer directory (what its scopes know) to wait on."""
    ensure_database(settings, ["complaints"])
    directory = PostgresCustomerDirectory(settings, COMPLAINTS_VIEW)
    async with (
        customers_running(settings, CLOCK),
        orders_running(settings, CLOCK),
        service_running(
            ComplaintsApplication(settings, CLOCK, directory),
            register_complaints,
            settings,
            extra=complaints_background,  # as main.py runs it: its customer directory (scopes) too
        ),
        reporting_running(settings, clock=CLOCK),
    ):
        yield directory
    directory.close()


async def products(request_: Requester) -> None:
    for code, (price, cost) in PRICES.items():
        reply = await request_("orders", "query", "get_product", {"product_code": code})
        if reply["ok"]:
            continue
        # the body as the orders service's own command model writes it
        listing = ListProduct.model_validate(
            {
                "actor": GM,
                "product_code": code,
                "name": code,
                "spec": "std",
                "list_price": price,
                "standard_cost": cost,
            }
        )
        listed = await request_(
            "orders", "cmd", "list_product", listing.model_dump(mode="json", exclude_none=True)
        )
        assert listed["ok"], listed
        stocked = await request_(
            "orders",
            "cmd",
            "receive_stock",
            {"actor": PRODUCTION, "product_code": code, "quantity": 1_000_000},
        )
        assert stocked["ok"], stocked


@hypothesis_settings(
    max_examples=16,
    deadline=None,
    derandomize=True,
    # Bounded time (~1–2 minutes): a failing flow is reported as generated, not shrunk (each try is a flow
    # of real commands).
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(kinds=kinds, limits=limits, flow_steps=steps)
# One flow always run: orders over the limits held (O6, O7) and approved, shipped in part, paid in part,
# cancelled, a hold expired into credit that the next order uses.
@example(
    kinds=["branch", "dealer", "agent"],
    limits=["3000", "3000", "1000000"],
    flow_steps=[
        ("order", 0, "OR-P1", 40),
        ("order", 1, "OR-P1", 40),
        ("release", 0),
        ("release", 0),
        ("ship", 0, False),
        ("pay", 0, False),
        ("order", 2, "OR-P2", 10),
        ("cancel", 0),
        ("hold", 2, "OR-P1", 5),
        ("advance", 4),
        ("order", 2, "OR-P1", 3),
        ("ship", 1, True),
        ("advance", 12),
        ("pay", 0, True),
    ],
)
# One flow always run for the one exposure measure: an overdue opening receivable holds two orders (O5) that
# each fit the limit; paying it releases them, and the second, which no longer fits, is held by O6 and
# approved; returns of a part-paid order, the last one turned into credit that the next order spends; a
# branch's opening receivable part paid.
@example(
    kinds=["dealer", "branch", "agent"],
    limits=["3000", "3000", "1000000"],
    flow_steps=[
        ("opening", 0, 10, -5),
        ("order", 0, "OR-P1", 15),
        ("order", 0, "OR-P1", 11),
        ("pay_opening", 0, True),
        ("release", 0),
        ("order", 1, "OR-P1", 20),
        ("ship", 0, True),
        ("pay", 0, False),
        ("return", 0, False),
        ("return", 0, True),
        ("order", 0, "OR-P2", 10),
        ("opening", 1, 5, 20),
        ("advance", 3),
        ("pay_opening", 0, False),
    ],
)
# One flow always run for R8: three distributors with sales, the third of them still flagged for reward;
# the next month one grows, one falls and one sells nothing.
@example(
    kinds=["dealer", "agent", "dealer"],
    limits=["1000000", "1000000", "1000000"],
    flow_steps=[
        ("order", 0, "OR-P1", 30),
        ("order", 1, "OR-P1", 20),
        ("order", 2, "OR-P1", 10),
        ("advance", 31),
        ("order", 0, "OR-P1", 40),
        ("order", 1, "OR-P2", 1),
    ],
)
# One flow always run for C10 and C11: a dealer's orders before and after its reassignment and its moves
# (one cancelled and one returned after the move: they leave the first region and salesperson), history
# imported after the move, securities expiring within 30 days and after, a branch reassigned.
@example(
    kinds=["dealer", "agent", "branch"],
    limits=["1000000", "1000000", "1000000"],
    flow_steps=[
        ("order", 0, "OR-P1", 10),
        ("order", 0, "OR-P2", 4),
        ("ship", 0, True),
        ("reassign", 0),
        ("move", 0),
        ("order", 0, "OR-P1", 5),
        ("return", 0, False),
        ("cancel", 0),
        ("import", 0, 1, 3),
        ("security", 0, 10, 20),
        ("security", 1, 5, 45),
        ("advance", 20),
        ("move", 0),
        ("order", 0, "OR-P2", 2),
        ("reassign", 2),
        ("order", 2, "OR-P1", 1),
        ("feedback", 0, "praise", False),
        ("feedback", 1, "inquiry", True),
    ],
)
async def test_r2_r3_r5_r7_r8_r12_r14_c10_c11_p8_every_figure_equals_a_recomputation_of_random_flows(
    system: PostgresCustomerDirectory,
    request_: Requester,
    kinds: list[str],
    limits: list[str],
    flow_steps: list[Step],
) -> None:
    n = next(EXAMPLES)
    CLOCK.set(datetime(2040 + 2 * n, 1, 10, 2, tzinfo=UTC))
    letters = "".join(string.ascii_uppercase[int(d)] for d in f"{n:03d}")
    flow = Flow(request_, Model(salesperson=f"sp-oracle-{n}", region=f"OR{letters}"), system)
    await products(request_)
    customers = [
        await flow.customer(i, kind, limit) for i, (kind, limit) in enumerate(zip(kinds, limits, strict=True))
    ]
    for step in flow_steps:
        await flow.run(step, customers)

    found: list[tuple[Any, ...]] = []

    async def agree() -> bool:
        found[:] = await differences(flow, request_)
        return not found

    with contextlib.suppress(AssertionError):  # reporting catches up; what still differs is reported below
        await wait_for(agree, timeout=20, every=0.5)
    assert found == [], f"{len(found)} figures differ (where, figure, recomputed, reported): {found[:20]}"
