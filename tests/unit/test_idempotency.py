"""Idempotency keys: the same key and body get the first reply; the same key with another body is a
conflict and runs nothing; a receipt stored before bodies were compared still answers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import StoredEvent

from services.customers.application import CustomersApplication
from services.customers.commands import RegisterProspect
from shared.clock import FixedClock
from shared.settings import Settings
from shared.store import CommandReceipt, IdempotencyConflict, body_digest
from tests.builders import registration

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def in_memory() -> CustomersApplication:
    return CustomersApplication(Settings(), FixedClock(NOW), env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


@pytest.fixture
def app() -> CustomersApplication:
    return in_memory()


def prospect(**overrides: Any) -> RegisterProspect:
    return registration(**({"idempotency_key": "form-42"} | overrides))


def stored(app: CustomersApplication) -> int:
    return app.recorder.max_notification_id() or 0


def test_the_same_key_and_body_get_the_first_reply_whatever_the_correlation_id(
    app: CustomersApplication,
) -> None:
    first = app.register_prospect(prospect(correlation_id="call-1"))
    count = stored(app)
    assert app.register_prospect(prospect(correlation_id="call-2")) == first
    assert stored(app) == count


def test_the_same_key_with_another_body_is_a_conflict_and_runs_nothing(app: CustomersApplication) -> None:
    app.register_prospect(prospect())
    count = stored(app)
    with pytest.raises(IdempotencyConflict) as refused:
        app.register_prospect(prospect(company_name="Another Trading"))
    assert refused.value.code == "conflict"
    assert refused.value.details == {"idempotency_key": "form-42"}
    assert stored(app) == count


def test_the_digest_ignores_key_order_and_correlation_but_not_values() -> None:
    assert body_digest(prospect(correlation_id="a")) == body_digest(prospect(idempotency_key="other"))
    assert body_digest(prospect()) != body_digest(prospect(staff_count=13))


def test_a_receipt_stored_as_version_1_still_loads_and_answers_any_body(app: CustomersApplication) -> None:
    """Version 1 receipts kept no digest: they load (upcast) and give their first reply, as before."""
    reply = app.register_prospect(prospect(idempotency_key="old-form"))
    receipt_id = CommandReceipt.create_id("customers:old-form")
    current = app.recorder.select_events(receipt_id)[0]
    state = app.mapper.transcoder.decode(current.state)
    assert state.pop("class_version") == 2
    del state["digest"]  # exactly what version 1 stored
    encoded = app.mapper.transcoder.encode(state)
    old = StoredEvent(receipt_id, current.originator_version, current.topic, encoded)
    fresh = in_memory()
    fresh.recorder.insert_events([old])
    loaded: CommandReceipt = fresh.repository.get(UUID(str(receipt_id)))
    assert loaded.digest is None
    assert fresh.register_prospect(prospect(idempotency_key="old-form", company_name="Other")) == reply
