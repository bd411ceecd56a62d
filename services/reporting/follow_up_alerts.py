"""R12 alerts on what is due soon or already late: holds expiring within 24 h (O9) and complaints, feedback
and after-sales requests past a deadline (P7, P8, P9) and not yet finished.

Read from reporting's event log like the lifecycle alerts (``lifecycle.py``): a hold's or a complaint's
few events are read whole, which keeps R9 true by construction (no projection to rebuild).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import asyncpg

from services.reporting.lifecycle import customer_join, customer_of, named
from services.reporting.queries import amount
from services.reporting.tables import SCHEMA
from shared.complaints_contract import (
    ComplaintClosed,
    ComplaintLogged,
    ComplaintOverdue,
    ComplaintsEvent,
    FeedbackAnswered,
    FeedbackEscalationAcknowledged,
    FeedbackOverdue,
    PenaltyIssued,
    ServiceRequestOverdue,
    ServiceSignedOff,
)
from shared.events import EventContract
from shared.orders_contract import OrderReserved, ReservationConverted, ReservationExpired

# R12: a live hold expiring within this window is on the alerts list (it lapses by itself, O9).
HOLD_ALERT_WINDOW = timedelta(hours=24)

# A live hold: reserved, neither converted into an order nor expired yet (O9).
HOLDS_LIVE = f"""
SELECT r.aggregate_id AS hold_id, r.data->>'customer_id' AS customer_id,
       (r.data->>'amount')::numeric AS amount, (r.data->>'expires_at')::timestamptz AS expires_at
FROM {SCHEMA}.event_log r
WHERE r.service = '{OrderReserved.SERVICE}' AND r.event_type = {named(OrderReserved)}
  AND NOT EXISTS (
      SELECT FROM {SCHEMA}.event_log x
      WHERE x.service = '{OrderReserved.SERVICE}' AND x.aggregate_id = r.aggregate_id
        AND x.event_type IN ({named(ReservationConverted)}, {named(ReservationExpired)}))
"""
COMPLAINTS = f"'{ComplaintsEvent.SERVICE}'"

# Per late subject: (overdue event, the event that finishes the subject, the alert, the rule, the id's key).
Event = type[EventContract]
LATE_SUBJECTS: tuple[tuple[Event, Event, str, str, str], ...] = (
    (ComplaintOverdue, ComplaintClosed, "complaint_overdue", "P7", "complaint_id"),
    (FeedbackOverdue, FeedbackAnswered, "feedback_overdue", "P8", "feedback_id"),
    (ServiceRequestOverdue, ServiceSignedOff, "service_request_overdue", "P9", "service_request_id"),
)
# A missed acknowledgement is no longer late once the subject is acknowledged, finished or not: per overdue
# event, (its stage, SQL on a later event ``x`` of the subject that acknowledges it). P7: any handling step
# acknowledges a complaint (as the complaints service counts it); P8: the general manager acknowledges a
# major feedback.
ACKNOWLEDGED: dict[Event, tuple[str, str]] = {
    ComplaintOverdue: (
        "acknowledge",
        f"x.event_type NOT IN ({named(ComplaintLogged)}, {named(ComplaintOverdue)}, {named(PenaltyIssued)})",
    ),
    FeedbackOverdue: ("escalation", f"x.event_type = {named(FeedbackEscalationAcknowledged)}"),
}


def _late(overdue: Event, finished: Event) -> str:
    """SQL: per subject with an ``overdue`` event and no ``finished`` one, its latest deadline missed and
    not acknowledged since (``ACKNOWLEDGED``)."""
    stage, acknowledging = ACKNOWLEDGED.get(overdue, ("", "false"))
    return f"""
    SELECT DISTINCT ON (o.aggregate_id) o.aggregate_id AS subject_id, o.data->>'customer_id' AS customer_id,
           o.data->>'stage' AS stage, (o.data->>'deadline')::timestamptz AS deadline,
           coalesce(o.data->>'assigned_to', o.data->>'responsible', o.data->>'technician_id') AS responsible
    FROM {SCHEMA}.event_log o
    WHERE o.service = {COMPLAINTS} AND o.event_type = {named(overdue)}
      AND NOT EXISTS (
          SELECT FROM {SCHEMA}.event_log x
          WHERE x.service = {COMPLAINTS} AND x.aggregate_id = o.aggregate_id
            AND x.event_type = {named(finished)})
      AND NOT (o.data->>'stage' IS NOT DISTINCT FROM '{stage}' AND EXISTS (
          SELECT FROM {SCHEMA}.event_log x
          WHERE x.service = {COMPLAINTS} AND x.aggregate_id = o.aggregate_id
            AND x.aggregate_version > o.aggregate_version AND {acknowledging}))
    ORDER BY o.aggregate_id, o.aggregate_version DESC
    """


async def follow_up_alerts(
    conn: asyncpg.Connection, now: datetime, schema: str = SCHEMA
) -> list[dict[str, Any]]:
    """R12 at ``now``: live holds expiring within ``HOLD_ALERT_WINDOW`` (the soonest first), then the
    complaints (P7), feedback (P8) and after-sales requests (P9) that missed a deadline and are not yet
    closed, answered or signed off (the longest overdue first)."""
    alerts: list[dict[str, Any]] = []
    for r in await conn.fetch(
        f"SELECT h.*, d.code, d.company_name, d.kind FROM ({HOLDS_LIVE}) h {customer_join(schema)} "
        "WHERE h.expires_at > $1 AND h.expires_at <= $2 ORDER BY h.expires_at, h.hold_id",
        now,
        now + HOLD_ALERT_WINDOW,
    ):
        alerts.append(
            {
                **customer_of(r),
                "alert": "hold_expiring",
                "rule": "O9",
                "hold_id": r["hold_id"],
                "amount": amount(r["amount"]),
                "deadline": r["expires_at"].isoformat(),
            }
        )
    for overdue, finished, alert, rule, key in LATE_SUBJECTS:
        for r in await conn.fetch(
            f"SELECT l.*, d.code, d.company_name, d.kind FROM ({_late(overdue, finished)}) l "
            f"{customer_join(schema)} ORDER BY l.deadline, l.subject_id"
        ):
            alerts.append(
                {
                    **customer_of(r),
                    "alert": alert,
                    "rule": rule,
                    key: r["subject_id"],
                    "stage": r["stage"],
                    "deadline": r["deadline"].isoformat(),
                    "responsible": r["responsible"] or None,
                }
            )
    return alerts
