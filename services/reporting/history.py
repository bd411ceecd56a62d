"""R14: importing past sales per customer code and period from a CSV file (finance, at adoption).

The file is checked whole first: every bad line is reported with its line number and nothing is imported.
A good file becomes events in reporting's own log: one ``HistoryLineImported`` per line (so the customer's
audit trail shows it, R10) and one ``HistoryFileImported`` keyed by the file's SHA-256: the same file
imported again finds its hash and imports nothing. Its figures count in their own period (R2 growth, R4
top 10 by growth, R6 annual statistics).
"""

from __future__ import annotations

import csv
import hashlib
import io
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import asyncpg

from services.reporting import own, periods, placement
from services.reporting.bulk import LOG_INSERT, LOG_LOCK, POSITIONS
from services.reporting.periods import PeriodMode
from services.reporting.projections import OWN
from services.reporting.projector import Projector
from services.reporting.tables import SCHEMA
from shared.contracts import Actor, Role
from shared.envelope import event_id
from shared.errors import DomainError, Forbidden

COLUMNS = ("customer_code", "period", "ordered_amount", "shipped_amount", "paid_amount", "quantity")
MONEY_COLUMNS = ("ordered_amount", "shipped_amount", "paid_amount")
CHUNK = 20_000  # lines logged and applied per statement and progress step (all in one transaction)
Progress = Callable[[int, int, float], None]


IMPORTERS = frozenset({Role.FINANCE})


def require_importer(actor: Actor) -> None:
    if actor.role not in IMPORTERS:
        raise Forbidden(
            f"{actor.role.value} may not import sales history", rule="R14", details={"allowed": ["finance"]}
        )


@dataclass(frozen=True)
class HistoryImport:
    sha256: str
    lines: int
    imported: int  # 0 when the file was imported before

    def as_result(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "lines": self.lines,
            "imported": self.imported,
            "already_imported": self.imported == 0 and self.lines > 0,
        }


def digest(content: str) -> str:
    return hashlib.sha256(content.encode()).hexdigest()


def _money(value: str) -> Decimal | None:
    try:
        amount = Decimal(value.strip())
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount < 0 or amount != amount.quantize(Decimal("0.01")):
        return None
    return amount.quantize(Decimal("0.01"))


def parse(
    content: str, codes: dict[str, str], current_period: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The file's lines as event data, and its problems (``line``, ``field``, ``message``); ``codes`` maps
    customer codes to ids. A period must be before ``current_period``: history is what the system has not
    seen. A customer and period appear once."""
    reader = csv.reader(io.StringIO(content))
    header = next(reader, None)
    if header is None or tuple(h.strip() for h in header) != COLUMNS:
        return [], [{"line": 1, "field": None, "message": f"the header must be {','.join(COLUMNS)}"}]
    good, bad = [], []
    seen: dict[tuple[str, str], int] = {}
    for number, fields in enumerate(reader, start=2):
        if not fields or all(not f.strip() for f in fields):
            continue
        problems = []
        if len(fields) != len(COLUMNS):
            bad.append({"line": number, "field": None, "message": f"{len(COLUMNS)} columns expected"})
            continue
        row = dict(zip(COLUMNS, (f.strip() for f in fields), strict=True))
        customer_id = codes.get(row["customer_code"])
        if customer_id is None:
            problems.append(("customer_code", f"no approved customer has the code {row['customer_code']!r}"))
        if not periods.LABEL.match(row["period"]):
            problems.append(("period", f"{row['period']!r} is not a period YYYY-MM"))
        elif row["period"] >= current_period:
            problems.append(
                ("period", f"{row['period']} is not a past period (the current is {current_period})")
            )
        amounts = {name: _money(row[name]) for name in MONEY_COLUMNS}
        problems += [
            (n, f"{row[n]!r} is not an amount >= 0 with 2 decimals") for n, v in amounts.items() if v is None
        ]
        if not row["quantity"].isdigit():
            problems.append(("quantity", f"{row['quantity']!r} is not a whole number >= 0"))
        key = (row["customer_code"], row["period"])
        if key in seen:
            problems.append(("period", f"{key[0]} {key[1]} is on line {seen[key]} already"))
        seen.setdefault(key, number)
        bad += [{"line": number, "field": f, "message": m} for f, m in problems]
        if not problems:
            good.append(
                {
                    "line": number,
                    "customer_id": customer_id,
                    "customer_code": row["customer_code"],
                    "period": row["period"],
                    **{name: str(value) for name, value in amounts.items()},
                    "quantity": int(row["quantity"]),
                }
            )
    return good, bad


async def import_history(
    conn: asyncpg.Connection,
    content: str,
    file_name: str,
    actor: Actor,
    at: datetime,
    mode: PeriodMode,
    progress: Progress | None = None,
) -> HistoryImport:
    """Check the whole file, then log it (all or nothing); a file imported before imports nothing."""
    sha = digest(content)
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", own.OWN_LOCK)
        known = await conn.fetch(
            f"SELECT d.code, d.customer_id, r.region FROM {SCHEMA}.customers d "
            f"JOIN ({placement.regions_at(SCHEMA, 'NULL')}) r USING (customer_id) WHERE d.code IS NOT NULL"
        )
        good, bad = parse(content, {r["code"]: r["customer_id"] for r in known}, periods.period_of(at, mode))
        regions = {r["customer_id"]: r["region"] for r in known}
        for line in good:  # R5 counts a line in the customer's region as it is when imported (C10)
            line["region"] = regions.get(line["customer_id"])
        if await conn.fetchval(f"SELECT EXISTS (SELECT FROM {SCHEMA}.history_files WHERE sha256 = $1)", sha):
            return HistoryImport(sha, len(good) + len(bad), 0)
        if not bad:
            bad = await _imported_before(conn, good)
        if bad:
            raise DomainError(
                f"{len(bad)} problem(s) in {file_name}; nothing was imported",
                rule="R14",
                details={"problems": bad},
            )
        aggregate = f"history-{sha[:32]}"
        await _log_lines(conn, aggregate, good, actor, at, mode, progress)
        file_event = {"sha256": sha, "file_name": file_name, "lines": len(good), "imported_by": actor.id}
        await own.append(
            conn, [own.OwnEvent("HistoryFile", aggregate, "HistoryFileImported", file_event)], actor, at, mode
        )
    return HistoryImport(sha, len(good), len(good))


async def _log_lines(
    conn: asyncpg.Connection,
    aggregate: str,
    lines: list[dict[str, Any]],
    actor: Actor,
    at: datetime,
    mode: PeriodMode,
    progress: Progress | None,
) -> None:
    """Log the lines as ``HistoryLineImported`` events numbered as ``own.append`` numbers them, and apply
    them, ``CHUNK`` at a time with one statement each (the caller holds the transaction). Not through
    ``own.append``: an envelope per line and a batch per 500 took minutes for ten years of a large
    company's history (600,000 lines)."""
    position, version = await own.last_position(conn), await own.last_version(conn, aggregate)
    await conn.execute("SELECT pg_advisory_xact_lock_shared($1)", LOG_LOCK)  # as every batch (bulk.py)
    correlation, moment = str(uuid.uuid4()), periods.micros(at)
    started = datetime.now().timestamp()
    for start in range(0, len(lines), CHUNK):
        chunk = lines[start : start + CHUNK]
        numbered = [(position + i, version + i, data) for i, data in enumerate(chunk, start=start + 1)]
        who = (actor.id, actor.role.value, correlation, None)
        kind = ("HistoryLineImported", 1, "HistoryFile", aggregate)
        rows = [(OWN, p, event_id(aggregate, v), *kind, v, at, *who, data) for p, v, data in numbered]
        await conn.execute(LOG_INSERT.sql(SCHEMA), *LOG_INSERT.arrays(rows))
        projector = Projector(mode)
        projector.apply_rows(
            [(0, OWN, p, "HistoryLineImported", aggregate, v, moment, data) for p, v, data in numbered]
        )
        await projector.flush(conn, SCHEMA)
        await conn.execute(POSITIONS.sql(SCHEMA), *POSITIONS.arrays([(OWN, numbered[-1][0], len(chunk))]))
        if progress:
            progress(start + len(chunk), len(lines), datetime.now().timestamp() - started)


async def _imported_before(conn: asyncpg.Connection, good: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Lines whose customer and period came in with another file: importing them again would count twice."""
    rows = await conn.fetch(
        f"SELECT data->>'customer_code' AS code, data->>'period' AS period FROM {SCHEMA}.event_log "
        "WHERE service = $1 AND event_type = 'HistoryLineImported'",
        OWN,
    )
    before = {(r["code"], r["period"]) for r in rows}
    return [
        {
            "line": d["line"],
            "field": "period",
            "message": f"{d['customer_code']} {d['period']} was imported before",
        }
        for d in good
        if (d["customer_code"], d["period"]) in before
    ]
