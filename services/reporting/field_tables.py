"""Reporting's tables of the field service's figures (R11, R13) and the one statement that writes them.

Targets, visit plans and budgets are replaced by a newer approval: each row keeps the version of the
event that set it and the newer wins. Visits and approved expenses are counters. Either way, events
applied in any order give the same rows (R9). All five tables are written by ONE statement taking ONE
jsonb argument (``FieldStatement``): the live batch function may take no more than 100 arguments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

# Per table: its key columns, then the others (name -> type), and whether the others are added (counters)
# or replaced by a newer ``version``.
FIELD_TABLES: dict[str, tuple[dict[str, str], dict[str, str], bool]] = {
    # S1: the approved targets of one scope and month (``YYYY-MM``, a month of the plan's year) as
    # {unit: amount}: scope "company" ({"company": ...}), "region:<R>" ({R: ...}) or "salespeople:<R>"
    # ({salesperson: ...}); a newer approval replaces the whole month, salespeople dropped included.
    "field_targets": (
        {"scope": "text", "month": "text"},
        {"targets": "jsonb", "version": "bigint"},
        False,
    ),
    # S2: a salesperson's visit plan of a month, {customer_id: visits}.
    "field_visit_plans": (
        {"salesperson_id": "text", "month": "text"},
        {"planned": "jsonb", "version": "bigint"},
        False,
    ),
    # S2: visits logged per salesperson, month and customer ('' for a prospect under a development plan);
    # ``counted``: the kinds that count as a planned visit made (a phone call does not).
    "field_visits": (
        {"salesperson_id": "text", "month": "text", "customer_id": "text"},
        {"logged": "numeric", "counted": "numeric"},
        True,
    ),
    # S3: approved expense claims per region and reporting period of the day they were spent on.
    "field_expenses": (
        {"region": "text", "period": "text"},
        {"approved_amount": "numeric", "claims": "numeric", "over_budget_claims": "numeric"},
        True,
    ),
    # S3: each region's approved annual expense budget.
    "field_budgets": (
        {"region": "text", "year": "text"},
        {"amount": "numeric(18,2)", "version": "bigint"},
        False,
    ),
}


def _ddl(name: str) -> str:
    keys, others, counters = FIELD_TABLES[name]
    default = " NOT NULL DEFAULT 0" if counters else " NOT NULL"
    columns = [f"{col} {kind} NOT NULL" for col, kind in keys.items()]
    columns += [f"{col} {kind}{default}" for col, kind in others.items()]
    return f"CREATE TABLE {{s}}.{name} ({', '.join(columns)}, PRIMARY KEY ({', '.join(keys)}))"


FIELD_PROJECTIONS = {name: _ddl(name) for name in FIELD_TABLES}
FIELD_COLUMNS = {name: [*keys, *others] for name, (keys, others, _) in FIELD_TABLES.items()}


def _upsert(schema: str, name: str, argument: str) -> str:
    keys, others, counters = FIELD_TABLES[name]
    if counters:
        updates = ", ".join(f"{col} = t.{col} + EXCLUDED.{col}" for col in others)
        where = ""
    else:
        updates = ", ".join(f"{col} = EXCLUDED.{col}" for col in others)
        where = " WHERE EXCLUDED.version > t.version"
    columns = ", ".join(FIELD_COLUMNS[name])
    return (
        f"INSERT INTO {schema}.{name} AS t ({columns}) SELECT {columns} FROM "
        f"jsonb_populate_recordset(NULL::{schema}.{name}, {argument}->'{name}') ORDER BY {', '.join(keys)} "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}{where}"
    )


@dataclass(frozen=True)
class FieldStatement:
    """Every field table's upsert as one statement; its rows are (table, {column: value}) and go as one
    jsonb argument {table: [row, ...]} (money as its text: exact, and what orjson encodes)."""

    # One argument (``bulk.batch_function_ddl`` counts them).
    columns: ClassVar[dict[str, str]] = {"field": "jsonb"}

    def sql(self, schema: str, first: int = 1) -> str:
        argument = f"${first}::jsonb"
        *others, last = FIELD_TABLES
        ctes = [f"written_{name} AS ({_upsert(schema, name, argument)} RETURNING 1)" for name in others]
        return f"WITH {', '.join(ctes)} {_upsert(schema, last, argument)}"

    def parameter_types(self) -> list[str]:
        return ["jsonb"]

    def arrays(self, rows: Sequence[tuple[str, dict[str, Any]]]) -> list[Any]:
        tables: dict[str, list[dict[str, Any]]] = {}
        for table, row in rows:
            tables.setdefault(table, []).append(row)
        return [tables]


FIELD_STATEMENT = FieldStatement()
