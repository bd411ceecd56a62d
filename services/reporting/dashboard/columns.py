"""The columns of each report table, in the business's words (keys into ``i18n.WORDS``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from services.reporting.dashboard.grids import Column
from services.reporting.receivables import AGES


def _holds(r: Mapping[str, Any]) -> str:
    return f"{r['holds_made']}/{r['holds_converted']}/{r['holds_expired']}"


def _complaints(r: Mapping[str, Any]) -> str:
    return f"{r['quality_complaints']}/{r['service_complaints']}"


def tally(key: str) -> Callable[[Mapping[str, Any]], str]:
    """A row's counts by name (``{"dealer": 3, "agent": 1}``) as one cell: "agent 1, dealer 3"."""
    return lambda r: ", ".join(f"{k} {n}" for k, n in sorted(r[key].items()))


CODE = Column("code", "code")
NAME = Column("company_name", "name", "name")
KIND = Column("kind", "kind", "word")
REGION = Column("region", "region")

DISTRIBUTORS = (
    Column("rank", "rank", "count"),
    CODE,
    NAME,
    KIND,
    REGION,
    Column("grade", "grade"),
    Column("salesperson_id", "salesperson"),
    Column("orders", "orders", "count"),
    Column("ordered_amount", "ordered", "money"),
    Column("shipped_amount", "shipped", "money"),
    Column("paid_amount", "paid", "money"),
    Column("deposits", "deposits", "money"),
    Column("holds", "holds", value=_holds),
    Column("complaints", "complaints_qs", value=_complaints),
    Column("fines", "fines", "money"),
    Column("growth_vs_previous", "growth_previous", "rate"),
    Column("growth_vs_last_year", "growth_last_year", "rate"),
)
BRANCHES = (
    CODE,
    NAME,
    REGION,
    Column("orders", "orders", "count"),
    Column("ordered_amount", "ordered", "money"),
    Column("capital_occupied", "capital_occupied", "money"),
    Column("capital_limit", "capital_limit", "money"),
    Column("over_capital_limit", "over_limit", "flag"),
    Column("over_limit_approvals", "over_limit_approvals", "count"),
    Column("request_list_match_rate", "match_rate", "share"),
    Column("reorder_alerts", "reorder_alerts", "count"),
)
KEY_CUSTOMERS = (
    CODE,
    NAME,
    KIND,
    REGION,
    Column("sales", "sales", "money"),
    Column("growth_rate", "growth", "rate"),
    Column("margin", "margin", "share"),
)
REGIONS = (
    Column("region", "region"),
    Column("customers_by_kind", "customers_by_kind", value=tally("customers_by_kind")),
    Column("orders", "orders", "count"),
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
    Column("orders", "orders", "count"),
    Column("amount", "amount", "money"),
    Column("complaints", "complaints", "count"),
    Column("fines", "fines", "money"),
    Column("dismissal_recommendations", "dismissals", "count"),
)
REVIEW = (
    Column("flag", "flag", "word"),
    CODE,
    NAME,
    KIND,
    REGION,
    Column("grade", "grade"),
    Column("rank", "rank", "count"),
    Column("ordered_amount", "ordered", "money"),
    Column("reason", "reason"),
)
RECEIVABLES = (
    CODE,
    NAME,
    KIND,
    REGION,
    *(Column(age, age, "money") for age in AGES),
    Column("overdue", "overdue", "money"),
    Column("credit_used", "credit_used", "money"),
    Column("credit_limit", "credit_limit", "money"),
    Column("credit_used_share", "credit_used_share", "share"),
)
TREND = (
    Column("period", "period"),
    Column("net_sales", "net", "money"),
    Column("orders", "orders", "count"),
    Column("shipped", "shipped", "money"),
    Column("paid", "paid", "money"),
)
ALERTS = (
    Column("alert", "alert", "word"),
    Column("rule", "rule"),
    Column(
        "subject",
        "subject",
        value=lambda r: r.get("code") or r.get("company_name") or r.get("period") or r.get("durable"),
    ),
    Column("company_name", "name", "name"),
    Column("amount", "amount", "money"),
    Column("count", "count", "count"),
    Column("deadline", "at", "moment"),
)
ORDERS = (
    Column("order_id", "order"),
    Column("placed_at", "at", "moment"),
    Column("status", "status"),
    Column("total_amount", "total_amount", "money"),
    Column("shipped", "shipped", "money"),
    Column("paid", "paid", "money"),
)
SUBJECTS = (
    Column("aggregate_id", "subject"),
    Column("first_at", "at", "moment"),
    Column("latest", "latest"),
    Column("latest_at", "updated", "moment"),
)
AUDIT = (
    Column("at", "at", "moment"),
    Column("event_type", "event"),
    Column("aggregate_type", "aggregate"),
    Column("version", "version", "count"),
    Column(
        "who", "who", value=lambda e: f"{e['actor']['id']} ({e['actor']['role']})" if e["actor"] else None
    ),
    Column("reason", "why"),
    Column("service", "source"),
    Column("position", "position", "count"),
)
CONSUMPTION = (
    Column("service", "source"),
    Column("position", "position", "count"),
    Column("events", "events", "count"),
    Column("updated_at", "updated", "moment"),
)
CONSUMERS = (
    Column("durable", "consumer"),
    Column("stream", "source"),
    Column("pending", "pending", "count"),
    Column("dead_letters", "dead_letters", "count"),
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
