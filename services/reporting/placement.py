"""C10 rev 2 in reporting: where a customer is. Sales count in the region (and for the salesperson) their
order was placed with, at the time of the sale (``region_period``, ``staff_period``); a customer counts
in the region it was in at a moment, read from its ``CustomerRegionMoved`` events in the log (the log's
key starts with the service: only the customers' events are scanned)."""

from __future__ import annotations

from services.reporting.tables import SCHEMA
from shared.customer_contract import CustomerRegionMoved

# Written into the SQL, not bound: its callers number their own parameters around it (a contract's names
# are identifiers, never input).
SERVICE, EVENT_TYPE = CustomerRegionMoved.key()


def regions_at(schema: str, until: str) -> str:
    """SQL: every customer of ``schema``'s dimension with the region it was in before the moment ``until``
    (an SQL expression; NULL: now): the one of its last move before then, else its registered one."""
    return f"""
    SELECT d.customer_id, coalesce(m.region, d.region) AS region
    FROM {schema}.customers d
    LEFT JOIN (
        SELECT DISTINCT ON (aggregate_id) aggregate_id AS customer_id, data->>'region' AS region
        FROM {SCHEMA}.event_log
        WHERE service = '{SERVICE}' AND event_type = '{EVENT_TYPE}'
          AND ({until}::timestamptz IS NULL OR occurred_at < {until}::timestamptz)
        ORDER BY aggregate_id, aggregate_version DESC
    ) m USING (customer_id)
    """
