"""Reads of customers' personal data (#23): the audit trail (R10) shows events' data, a customer's legal
representative, phone, address and bank among them, so every read of it is recorded (who, when, which
subject) before it is answered, and auditors list the reads (``GET /api/personal-data-reads``).
Not a projection: nothing here comes from the event log, and a rebuild (R9) leaves it alone."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import asyncpg

from services.reporting.tables import SCHEMA

if TYPE_CHECKING:  # an annotation only: the token library would weigh ~15 MB in every rebuild process
    from shared.identity.scope import Acting

DDL = f"""
CREATE TABLE IF NOT EXISTS {SCHEMA}.personal_data_reads (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    read_at timestamptz NOT NULL,
    user_id text NOT NULL,
    roles text[] NOT NULL,
    subject text NOT NULL,
    what text NOT NULL
);
"""


async def record_read(conn: asyncpg.Connection, who: Acting, subject: str, what: str, at: datetime) -> None:
    await conn.execute(
        f"INSERT INTO {SCHEMA}.personal_data_reads (read_at, user_id, roles, subject, what) "
        "VALUES ($1, $2, $3, $4, $5)",
        at,
        who.user,
        [grant.claim() for grant in who.grants],
        subject,
        what,
    )


async def reads(conn: asyncpg.Connection, limit: int, subject: str | None = None) -> list[dict[str, Any]]:
    """The latest reads first."""
    rows = await conn.fetch(
        f"SELECT seq, read_at, user_id, roles, subject, what FROM {SCHEMA}.personal_data_reads "
        "WHERE $2::text IS NULL OR subject = $2 ORDER BY seq DESC LIMIT $1",
        limit,
        subject,
    )
    return [
        {
            "seq": r["seq"],
            "read_at": r["read_at"].isoformat(),
            "user": r["user_id"],
            "roles": list(r["roles"]),
            "subject": r["subject"],
            "what": r["what"],
        }
        for r in rows
    ]
