"""Both versions of ``CustomerRegistered`` on the bus (version 1 from a release before ``lead_source``,
version 2 after) fold to the same customer in orders' and field's customer views: the views read only
what both versions carry. The whole path under a real rolling upgrade: tests/fault/test_upgrade_drill.py."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest

from services.customers.application import CustomersApplication
from services.field import customer_view as field_view
from services.orders import customer_view as orders_view
from shared.clock import FixedClock
from shared.envelope import to_envelope
from shared.settings import Settings
from tests.builders import registration

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def registered_data() -> tuple[dict[str, Any], dict[str, Any]]:
    """(version 1, version 2) data of one registration, version 2 from the current domain."""
    app = CustomersApplication(Settings(), FixedClock(NOW), env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    customer_id = app.register_prospect(registration("dealer", lead_source="field_visit"))["customer_id"]
    stored = app.recorder.select_events(UUID(str(customer_id)))[0]
    envelope = to_envelope(app.mapper.to_domain_event(stored), "customers", 1)
    assert envelope.schema_version == 2
    version_2 = envelope.data
    return {k: v for k, v in version_2.items() if k != "lead_source"}, version_2


@pytest.mark.parametrize("fold", [orders_view.fold, field_view.fold], ids=["orders", "field"])
def test_c2_customer_views_fold_both_versions_of_a_registration_alike(fold: Any) -> None:
    version_1, version_2 = registered_data()
    assert version_2["lead_source"] == "field_visit"
    old = fold("c-1", [(1, "CustomerRegistered", version_1)])
    new = fold("c-1", [(1, "CustomerRegistered", version_2)])
    assert old is not None
    assert old == new
