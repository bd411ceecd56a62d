"""Malformed command bodies over the real bus (property-based, hypothesis): every one gets a structured
``invalid`` error naming the field, and nothing is stored."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import strategies as st
from nats.aio.client import Client as NATS

from services.complaints import domain
from shared.contracts import Role
from shared.runtime import WriteService
from shared.settings import Settings
from tests.builders import SALES_MANAGER, VP
from tests.integration.test_complaints import quality_complaint, service_complaint
from tests.integration.test_complaints_after_sales import service_request
from tests.integration.test_complaints_feedback import feedback
from tests.malformed import Case, bad_money, over_the_bus, refused_as_invalid, spoilt

pytestmark = pytest.mark.integration

# A complaint id the fixture fills in: the bodies of commands on an existing complaint point at it.
EXISTING = "00000000-0000-0000-0000-000000000000"


def templates(complaint_id: str) -> dict[str, dict[str, Any]]:
    return {
        "log_complaint": quality_complaint(),
        "log_complaint ": service_complaint("sp-1"),  # same command, the other type (trailing space: a key)
        "verify_complaint": {"actor": VP, "complaint_id": complaint_id, "valid": True, "severity": "minor"},
        "start_investigation": {
            "actor": SALES_MANAGER,
            "complaint_id": complaint_id,
            "departments_notified": ["qa"],
        },
        "resolve_complaint": {
            "actor": SALES_MANAGER,
            "complaint_id": complaint_id,
            "resolution": "refund",
            "amount": "10",
        },
        "inform_customer": {"actor": VP, "complaint_id": complaint_id, "satisfaction": "satisfied"},
        "log_feedback": feedback(major=True),
        "answer_feedback": {"actor": SALES_MANAGER, "feedback_id": complaint_id, "answer": "ok"},
        "log_service_request": service_request(kind="repair", quality_defect=True, complaint_id=complaint_id),
        "assign_technician": {
            "actor": SALES_MANAGER,
            "request_id": complaint_id,
            "technician": {"id": "tech-1", "region": "EAST"},
        },
        "schedule_service": {
            "actor": {"id": "tech-1", "role": "technician"},
            "request_id": complaint_id,
            "scheduled_for": "2026-11-21T01:30:00Z",
        },
        "sign_off_service": {
            "actor": SALES_MANAGER,
            "request_id": complaint_id,
            "signed_by": "Wang",
            "satisfaction": "satisfied",
        },
    }


REQUIRED = {
    "log_complaint": ["actor", "complaint_type", "customer_id", "description", "assigned_to"],
    "log_complaint ": ["actor", "complaint_type", "customer_id", "description", "assigned_to"],
    "verify_complaint": ["actor", "complaint_id", "valid"],
    "start_investigation": ["actor", "complaint_id", "departments_notified"],
    "resolve_complaint": ["actor", "complaint_id", "resolution"],
    "inform_customer": ["actor", "complaint_id", "satisfaction"],
    "log_feedback": ["actor", "kind", "customer_id", "content", "assigned_to"],
    "answer_feedback": ["actor", "feedback_id", "answer"],
    "log_service_request": ["actor", "kind", "customer_id", "region", "description"],
    "assign_technician": ["actor", "request_id", "technician"],
    "schedule_service": ["actor", "request_id", "scheduled_for"],
    "sign_off_service": ["actor", "request_id", "signed_by", "satisfaction"],
}

ENUMS = (
    domain.ComplaintType,
    domain.Severity,
    domain.Resolution,
    domain.Satisfaction,
    Role,
    domain.FeedbackKind,
    domain.ServiceKind,
)
ENUM_VALUES = {v.value for enum in ENUMS for v in enum}
bad_enum = st.text(max_size=12).filter(lambda s: s not in ENUM_VALUES)

# Values a field's type accepts but its rule does not.
BAD_VALUES: dict[str, list[tuple[str, st.SearchStrategy[Any]]]] = {
    "log_complaint": [
        ("complaint_type", bad_enum),
        ("quantity", st.integers(max_value=0)),
        ("purchase_date", st.sampled_from(["2026-02-30", "yesterday", "30/10/2026"])),
    ],
    "log_complaint ": [
        ("customer_id", st.just("")),
        ("description", st.just("")),
        ("assigned_role", bad_enum),
    ],
    "verify_complaint": [("severity", bad_enum), ("fine", bad_money)],
    "start_investigation": [("departments_notified", st.just([]))],
    "resolve_complaint": [("resolution", bad_enum), ("amount", bad_money)],
    "inform_customer": [("satisfaction", bad_enum)],
    "log_feedback": [("kind", bad_enum), ("content", st.just("")), ("major", st.sampled_from(["yes", 1]))],
    "answer_feedback": [("answer", st.just(""))],
    "log_service_request": [("kind", bad_enum), ("region", st.just("")), ("quality_defect", st.just("true"))],
    "assign_technician": [("technician", st.sampled_from([{"id": "t"}, {"id": "t", "region": ""}]))],
    "schedule_service": [
        ("scheduled_for", st.sampled_from(["2026-11-21T01:30:00", "tomorrow", "2026-13-01"]))
    ],
    "sign_off_service": [("satisfaction", bad_enum), ("signed_by", st.just(""))],
}


@st.composite
def malformed(draw: st.DrawFn) -> Case:
    """(command, raw body, the field the error must name or None)."""
    key = draw(st.sampled_from(sorted(REQUIRED)))
    raw, field = spoilt(
        draw,
        templates(EXISTING)[key],
        REQUIRED[key],
        BAD_VALUES[key],
        "sales_vp",
        lists=("departments_notified",),
    )
    return key.strip(), raw, field


@over_the_bus(malformed())
async def test_malformed_bodies_get_structured_errors_and_store_nothing(
    complaints: WriteService, nc: NATS, settings: Settings, case: Case
) -> None:
    await refused_as_invalid(nc, settings, complaints, case)
