"""P8/P9 in reporting (rev 2): customer feedback and after-sales service per period, per region and per
staff member: how many were logged (by kind), how many were escalated, and the deadlines missed.

Counted from the complaints' events in reporting's event log that occurred in the period (the log's key
starts with the service, so only the complaints' events are read), which keeps R9 true by construction
and lets the report be asked as of a moment like the others. A feedback counts in the region its customer
was in when it happened (C10: its last ``CustomerRegionMoved`` before, else its registered region), a
service request in the region it names (P9: the customer's region).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from asyncpg import Connection

from services.reporting import periods
from services.reporting.periods import PeriodMode
from services.reporting.queries import period_info
from services.reporting.tables import SCHEMA
from shared.complaints_contract import (
    ComplaintsEvent,
    FeedbackAssigned,
    FeedbackEscalated,
    FeedbackLogged,
    FeedbackOverdue,
    ServiceRequestLogged,
    ServiceRequestOverdue,
    TechnicianAssigned,
)
from shared.customer_contract import CustomerRegionMoved

REGION_COUNTS = (
    "feedback",
    "feedback_major",
    "feedback_overdue",
    "service_requests",
    "service_requests_overdue",
)
STAFF_COUNTS = (
    "feedback_assigned",
    "feedback_overdue",
    "service_requests_assigned",
    "service_requests_overdue",
)
# What each event adds: (region counter, staff counter, the data field naming the staff member).
COUNTS: dict[str, tuple[str | None, str | None, str | None]] = {
    FeedbackLogged.__name__: ("feedback", "feedback_assigned", "assigned_to"),
    FeedbackAssigned.__name__: (None, "feedback_assigned", "assigned_to"),
    FeedbackEscalated.__name__: ("feedback_major", None, None),
    FeedbackOverdue.__name__: ("feedback_overdue", "feedback_overdue", "responsible"),
    ServiceRequestLogged.__name__: ("service_requests", None, None),
    TechnicianAssigned.__name__: (None, "service_requests_assigned", "technician_id"),
    ServiceRequestOverdue.__name__: ("service_requests_overdue", "service_requests_overdue", "technician_id"),
}
# The events that carry a kind worth counting per region (P8 feedback kinds, P9 service kinds).
BY_KIND = {
    FeedbackLogged.__name__: "feedback_by_kind",
    ServiceRequestLogged.__name__: "service_requests_by_kind",
}
UNKNOWN_REGION = "unknown"


async def service_figures(
    conn: Connection, period: str, mode: PeriodMode, as_of: datetime | None = None, schema: str = SCHEMA
) -> dict[str, Any]:
    """P8/P9 per region and per staff member for ``period`` (as the events stood at ``as_of``)."""
    start, end = periods.bounds(period, mode)
    rows = await conn.fetch(
        f"""
        SELECT e.event_type, e.data, coalesce(e.data->>'region', m.region, d.region) AS region
        FROM {SCHEMA}.event_log e
        LEFT JOIN {schema}.customers d ON d.customer_id = e.data->>'customer_id'
        LEFT JOIN LATERAL (
            SELECT x.data->>'region' AS region FROM {SCHEMA}.event_log x
            WHERE x.aggregate_id = e.data->>'customer_id' AND x.service = $5 AND x.event_type = $6
              AND x.occurred_at <= e.occurred_at
            ORDER BY x.aggregate_version DESC LIMIT 1
        ) m ON true
        WHERE e.service = $7 AND e.event_type = ANY($1::text[])
          AND e.occurred_at >= $2 AND e.occurred_at < $3
          AND ($4::timestamptz IS NULL OR e.occurred_at <= $4)
        """,
        list(COUNTS),
        start,
        end,
        as_of,
        *CustomerRegionMoved.key(),
        ComplaintsEvent.SERVICE,
    )
    regions: dict[str, dict[str, Any]] = {}
    staff: dict[str, dict[str, Any]] = {}

    def row(
        table: dict[str, dict[str, Any]], key: str, key_name: str, names: tuple[str, ...]
    ) -> dict[str, Any]:
        found = table.get(key)
        if found is None:
            found = table[key] = {key_name: key, **dict.fromkeys(names, 0)}
            if table is regions:
                found.update({name: {} for name in BY_KIND.values()})
        return found

    for r in rows:
        region_counter, staff_counter, staff_field = COUNTS[r["event_type"]]
        data: dict[str, Any] = r["data"]
        if region_counter:
            region = row(regions, r["region"] or UNKNOWN_REGION, "region", REGION_COUNTS)
            region[region_counter] += 1
            by_kind = BY_KIND.get(r["event_type"])
            if by_kind:
                kinds = region[by_kind]
                kind = str(data.get("kind"))
                kinds[kind] = kinds.get(kind, 0) + 1
        staff_id = data.get(staff_field) if staff_field else None
        if staff_counter and staff_id:
            row(staff, str(staff_id), "staff_id", STAFF_COUNTS)[staff_counter] += 1
    return {
        **period_info(period, mode),
        "regions": [regions[k] for k in sorted(regions)],
        "staff": [staff[k] for k in sorted(staff)],
    }
