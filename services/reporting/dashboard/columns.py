"""The columns of each report table, in the business's words (keys into ``i18n.WORDS``).

A column that several tables show is named once here; a table is the row of its column names."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from services.reporting.dashboard.grids import Column, Kind
from services.reporting.receivables import AGES


def of(kind: Kind, **labels: str) -> tuple[Column, ...]:
    """Columns of one kind: each field of the row (keyword) under its label (value)."""
    return tuple(Column(key, label, kind) for key, label in labels.items())


def _holds(r: Mapping[str, Any]) -> str:
    return f"{r['holds_made']}/{r['holds_converted']}/{r['holds_expired']}"


def _complaints(r: Mapping[str, Any]) -> str:
    return f"{r['quality_complaints']}/{r['service_complaints']}"


def _actor(part: str) -> Callable[[Mapping[str, Any]], Any]:
    return lambda e: e["actor"][part] if e["actor"] else None


# The customer: who it is, and who works it.
CODE, NAME = Column("code", "code"), Column("company_name", "name", "name")
KIND, REGION = Column("kind", "kind", "word"), Column("region", "region")
GRADE, SALESPERSON = Column("grade", "grade"), Column("salesperson_id", "salesperson")
CUSTOMER = (CODE, NAME, KIND, REGION)
# Figures of a period (R2–R8).
RANK, ORDERS_COUNT, COUNT = of("count", rank="rank", orders="orders", count="count")
ORDERED, FINES, AMOUNT = of("money", ordered_amount="ordered", fines="fines", amount="amount")
MOVED = of("money", shipped_amount="shipped", paid_amount="paid", deposits="deposits")
GROWTH = of("rate", growth_vs_previous="growth_previous", growth_vs_last_year="growth_last_year")
HOLDS = Column("holds", "holds", value=_holds)
COMPLAINTS = Column("complaints", "complaints_qs", value=_complaints)
MOMENT = Column("at", "at", "moment")
SOURCE, POSITION = Column("service", "source"), Column("position", "position", "count")
UPDATED = Column("updated_at", "updated", "moment")

# R2: a distributor's figures of the period.
PERIOD_FIGURES = (ORDERS_COUNT, ORDERED, *MOVED, HOLDS, COMPLAINTS, FINES, *GROWTH)

DISTRIBUTORS = (RANK, *CUSTOMER, GRADE, SALESPERSON, *PERIOD_FIGURES)
BRANCHES = (
    CODE,
    NAME,
    REGION,
    ORDERS_COUNT,
    ORDERED,
    *of("money", capital_occupied="capital_occupied", capital_limit="capital_limit"),
    Column("over_capital_limit", "over_limit", "flag"),
    Column("over_limit_approvals", "over_limit_approvals", "count"),
    Column("request_list_match_rate", "match_rate", "share"),
    Column("reorder_alerts", "reorder_alerts", "count"),
)
KEY_CUSTOMERS = (
    *CUSTOMER,
    Column("sales", "sales", "money"),
    Column("growth_rate", "growth", "rate"),
    Column("margin", "margin", "share"),
)
REGIONS = (
    REGION,
    Column("customers_by_kind", "customers_by_kind", "tally"),
    ORDERS_COUNT,
    Column("sales_amount", "sales", "money"),
    Column(
        "products",
        "quantity_by_product",
        value=lambda r: ", ".join(f"{p['product_code']} {p['quantity']}" for p in r["products"]),
    ),
)
STAFF = (
    Column("staff_id", "salesperson"),
    Column("customers_developed", "developed", "count"),
    ORDERS_COUNT,
    AMOUNT,
    Column("complaints", "complaints", "count"),
    FINES,
    Column("dismissal_recommendations", "dismissals", "count"),
)
REVIEW = (Column("flag", "flag", "word"), *CUSTOMER, GRADE, RANK, ORDERED, Column("reason", "reason"))
RECEIVABLES = (
    *CUSTOMER,
    *of("money", **{age: age for age in AGES}, overdue="overdue", credit_used="credit_used"),
    Column("credit_limit", "credit_limit", "money"),
    Column("credit_used_share", "credit_used_share", "share"),
)
TREND = (
    Column("period", "period"),
    Column("net_sales", "net", "money"),
    ORDERS_COUNT,
    *of("money", shipped="shipped", paid="paid"),
)
ALERTS = (
    Column("alert", "alert", "word"),
    Column("rule", "rule"),
    Column(
        "subject",
        "subject",
        value=lambda r: r.get("code") or r.get("company_name") or r.get("period") or r.get("durable"),
    ),
    NAME,
    AMOUNT,
    COUNT,
    # A deadline missed or coming (a moment), or the day a contract or a security expires (C11, C12).
    Column("deadline", "due", "moment", value=lambda r: r.get("deadline") or r.get("expires_on")),
)
ORDERS = (
    Column("order_id", "order"),
    Column("placed_at", "at", "moment"),
    Column("status", "status", "word", value=lambda r: f"order.{r['status']}" if r["status"] else None),
    *of("money", total_amount="total_amount", shipped="shipped", paid="paid"),
)
SUBJECTS = (
    Column("aggregate_id", "subject"),
    Column("first_at", "at", "moment"),
    Column("latest", "latest"),
    Column("latest_at", "updated", "moment"),
)
AUDIT = (
    MOMENT,
    Column("event_type", "event"),
    Column("aggregate_type", "aggregate", "word"),
    Column("version", "version", "count"),
    Column("who", "who", value=_actor("id")),
    Column("role", "role", "word", value=_actor("role")),
    Column("reason", "why"),
    SOURCE,
    POSITION,
)
CONSUMPTION = (SOURCE, POSITION, Column("events", "events", "count"), UPDATED)
CONSUMERS = (
    Column("durable", "consumer"),
    Column("stream", "source"),
    *of("count", pending="pending", dead_letters="dead_letters"),
)


def _month(index: int) -> Callable[[Mapping[str, Any]], Any]:
    return lambda row: row["ordered_amounts"][index]


def annual(periods: list[str]) -> tuple[Column, ...]:
    """R6: one column per month of the year, then the totals."""
    months = tuple(Column(p, p[5:], "money", value=_month(i)) for i, p in enumerate(periods))
    return (
        CODE,
        NAME,
        KIND,
        *months,
        Column("total_orders", "orders", "count"),
        Column("total_amount", "total", "money"),
    )
