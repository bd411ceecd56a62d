"""Reporting's projection tables: their columns and DDL, per schema (``reporting``, ``reporting_build``,
``pg_temp``), so the same code fills the live tables, a rebuild and an as-of snapshot."""

from __future__ import annotations

from collections.abc import Iterable

from services.reporting.field_tables import FIELD_PROJECTIONS

SCHEMA = "reporting"
BUILD_SCHEMA = "reporting_build"
DISTRIBUTOR_KINDS = ("agent", "dealer")

# Per (customer, period) counters; R2/R3/R4/R6/R8 are queries over them. Sales figures are net (R2 rev 2):
# an order's amount and quantity count in the period it is placed and leave, as ``cancelled_amount``, the
# period it is cancelled in (``bulk.LeavingSales``); a credit note (O15/O16) leaves the period of its
# ``issued_on`` the same way, shown as ``returned_amount``; imported history (R14) adds to its own period.
PERIOD_COUNTERS = (
    "orders",
    "ordered_amount",
    "shipped_amount",
    "paid_amount",
    "deposits",
    "holds_made",
    "holds_converted",
    "holds_expired",
    "quality_complaints",
    "service_complaints",
    "fines",
    "over_limit_approvals",
    "reorder_alerts",
    "match_rate_sum",
    "match_rate_count",
    "orders_cancelled",
    "cancelled_amount",
    "quantity",
    "credit_notes",
    "returned_amount",
)
STAFF_COUNTERS = ("orders", "amount", "complaints", "penalties", "fines", "dismissals")
# R5 per (region, period, product): net sales in the region *at the time of each sale* (C10 rev 2): an order
# counts in the region its OrderPlaced names (orders' customer view follows a region move) and leaves that
# region when it is cancelled or returned, whatever region the customer is in by then. The row of product
# ``WHOLE_ORDERS`` carries the orders' count and amounts (and imported history, R14); the others, products.
REGION_COUNTERS = ("orders", "amount", "quantity")
WHOLE_ORDERS = ""
PRODUCT_COUNTERS = ("quantity", "amount")

# Customer dimension: groups of fields, each with the aggregate version of the event that set it.
DIM_GROUPS: dict[str, tuple[str, ...]] = {
    "info": ("kind", "region", "salesperson_id", "company_name", "registered_at"),
    "status": ("status",),
    "approval": ("code", "approved_at"),
    "grade": ("grade",),
    "capital": ("capital_limit",),
    "credit": ("credit_limit", "credit_rating"),
}
DIM_TYPES = {
    "kind": "text",
    "region": "text",
    "salesperson_id": "text",
    "company_name": "text",
    "registered_at": "timestamptz",
    "status": "text",
    "code": "text",
    "approved_at": "timestamptz",
    "grade": "text",
    "capital_limit": "numeric(18,2)",
    "credit_limit": "numeric(18,2)",
    "credit_rating": "text",
}
# Per order: its customer and total (the "placed" group, by version), its latest status (by version) and
# what was paid and shipped on it (added; credit notes taken off the receivable count as paid, O15/O16).
# Opening receivables (O11) are rows of their own (status "opening"). The one exposure measure
# (O6/O7/R3/R12 rev 2) is read from it.
ORDER_GROUPS: dict[str, dict[str, str]] = {
    "placed": {"customer_id": "text", "total_amount": "numeric(18,2)"},
    "status": {"status": "text"},
}
ORDER_SUMS = ("paid", "shipped")


def _counter_columns(names: Iterable[str]) -> str:
    return ",\n".join(f"    {name} numeric NOT NULL DEFAULT 0" for name in names)


def _dim_columns() -> str:
    cols = [f"    {col} {DIM_TYPES[col]}" for cols in DIM_GROUPS.values() for col in cols]
    cols += [f"    {group}_version bigint NOT NULL DEFAULT -1" for group in DIM_GROUPS]
    return ",\n".join(cols)


def _order_columns() -> str:
    cols = [f"    {col} {kind}" for cols in ORDER_GROUPS.values() for col, kind in cols.items()]
    cols += [f"    {group}_version bigint NOT NULL DEFAULT -1" for group in ORDER_GROUPS]
    return ",\n".join(cols) + ",\n" + _counter_columns(ORDER_SUMS)


PROJECTIONS: dict[str, str] = {
    "customers": "CREATE TABLE {s}.customers (\n    customer_id text PRIMARY KEY,\n" + _dim_columns() + "\n)",
    "products": (
        "CREATE TABLE {s}.products (product_code text PRIMARY KEY, name text, "
        "list_price numeric(18,2), standard_cost numeric(18,2), version bigint NOT NULL)"
    ),
    "customer_period": (
        "CREATE TABLE {s}.customer_period (\n    customer_id text NOT NULL,\n    period text NOT NULL,\n"
        + _counter_columns(PERIOD_COUNTERS)
        + ",\n    PRIMARY KEY (period, customer_id)\n)"
    ),
    "customer_product_period": (
        "CREATE TABLE {s}.customer_product_period (\n    customer_id text NOT NULL,\n"
        "    period text NOT NULL,\n"
        "    product_code text NOT NULL,\n"
        + _counter_columns(PRODUCT_COUNTERS)
        + ",\n    PRIMARY KEY (period, customer_id, product_code)\n)"
    ),
    "staff_period": (
        "CREATE TABLE {s}.staff_period (\n    staff_id text NOT NULL,\n    period text NOT NULL,\n"
        + _counter_columns(STAFF_COUNTERS)
        + ",\n    PRIMARY KEY (period, staff_id)\n)"
    ),
    "region_period": (
        "CREATE TABLE {s}.region_period (\n    region text NOT NULL,\n    period text NOT NULL,\n"
        "    product_code text NOT NULL,\n"
        + _counter_columns(REGION_COUNTERS)
        + ",\n    PRIMARY KEY (period, region, product_code)\n)"
    ),
    "orders": "CREATE TABLE {s}.orders (\n    order_id text PRIMARY KEY,\n" + _order_columns() + "\n)",
    # One row per shipment: the receivable it raised and when it falls due (O11, R12).
    "receivables": (
        "CREATE TABLE {s}.receivables (order_id text NOT NULL, shipment_id text NOT NULL, "
        "customer_id text, amount numeric(18,2) NOT NULL, due_on date, "
        "PRIMARY KEY (order_id, shipment_id))"
    ),
    # R12: what is still unpaid of each receivable, kept (``bulk.UnpaidReceivables``) so that ageing them is a
    # sum over the few open ones, not a walk over every shipment and order. Only receivables with something
    # unpaid have a row.
    "unpaid_receivables": (
        "CREATE TABLE {s}.unpaid_receivables (order_id text NOT NULL, shipment_id text NOT NULL, "
        "customer_id text, due_on date, unpaid numeric(18,2) NOT NULL, PRIMARY KEY (order_id, shipment_id))"
    ),
    # R1 rev 2: each period's report as it stood when the sales manager signed it off.
    "signoffs": (
        "CREATE TABLE {s}.signoffs (period text PRIMARY KEY, signed_at timestamptz NOT NULL, "
        "signed_by text, report jsonb NOT NULL)"
    ),
    # R14: each imported history file, by its content hash (the second import of a file adds nothing).
    "history_files": (
        "CREATE TABLE {s}.history_files (sha256 text PRIMARY KEY, file_name text, lines int NOT NULL, "
        "imported_at timestamptz NOT NULL, imported_by text)"
    ),
    **FIELD_PROJECTIONS,  # R11, R13
}
# Rebuilt together: what leaves the sales (``bulk.LeavingSales``, read from the log's ``OrderPlaced``) is
# aggregated with ``orders`` and written to the other three; what is unpaid of the receivables is kept from
# ``orders`` and ``receivables``.
SALES_TABLES = (
    "orders",
    "customer_period",
    "customer_product_period",
    "staff_period",
    "region_period",
    "receivables",
    "unpaid_receivables",
)
EXTRA_INDEXES = {
    "customer_period": ["CREATE INDEX ON {s}.customer_period (customer_id, period)"],
    "orders": ["CREATE INDEX ON {s}.orders (customer_id)"],
    "receivables": ["CREATE INDEX ON {s}.receivables (customer_id)"],
    "unpaid_receivables": ["CREATE INDEX ON {s}.unpaid_receivables (due_on)"],
}
