"""Health, readiness and Prometheus metrics of a running write service (real PostgreSQL and NATS)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.customers.api import register
from services.customers.application import CustomersApplication
from shared.clock import FixedClock
from shared.database import ensure_database
from shared.settings import Settings
from tests.builders import prospect
from tests.conftest import Requester, service_running, wait_for
from tests.unit.test_observability import http_get

pytestmark = pytest.mark.integration


def samples(text: bytes, name: str) -> list[tuple[dict[str, str], float]]:
    return [
        (dict(sample.labels), sample.value)
        for family in text_string_to_metric_families(text.decode())
        for sample in family.samples
        if sample.name == name
    ]


@pytest.fixture(scope="module")
async def customers(settings: Settings) -> AsyncIterator[Any]:
    ensure_database(settings, ["customers"])
    app = CustomersApplication(settings, FixedClock(datetime(2026, 11, 20, 2, 0, tzinfo=UTC)))
    mp = pytest.MonkeyPatch()
    mp.setenv("SALESOPS_METRICS_PORT", "0")  # any free port
    mp.setenv("SALESOPS_METRICS_HOST", "127.0.0.1")
    try:
        async with service_running(app, register, settings) as running:
            yield running
    finally:
        mp.undo()


async def test_health_and_readiness_answer_when_the_service_is_up(customers: Any) -> None:
    assert customers.metrics_port
    status, body = await http_get(customers.metrics_port, "/healthz")
    assert status == 200 and json.loads(body)["service"] == "customers"
    status, body = await http_get(customers.metrics_port, "/readyz")
    ready = json.loads(body)
    assert status == 200, ready
    assert ready["ready"] and set(ready["checks"]) >= {"nats", "routes", "postgres"}


async def test_readiness_fails_when_a_check_fails(customers: Any) -> None:
    async def down() -> bool:
        return False

    customers.metrics.checks["probe-down"] = down
    try:
        status, body = await http_get(customers.metrics_port, "/readyz")
    finally:
        del customers.metrics.checks["probe-down"]
    assert status == 503 and json.loads(body)["checks"]["probe-down"] is False


async def test_metrics_count_commands_errors_and_the_outbox_backlog(
    customers: Any, request_: Requester
) -> None:
    ok = await request_("customers", "cmd", "register_prospect", prospect(correlation_id="corr-metrics-1"))
    assert ok["ok"], ok
    refused = await request_("customers", "cmd", "register_prospect", prospect(staff_count=-1))
    assert not refused["ok"]

    async def published() -> bool:
        _, text = await http_get(customers.metrics_port, "/metrics")
        return samples(text, "salesops_outbox_backlog") == [({"service": "customers"}, 0.0)]

    await wait_for(published)
    _, text = await http_get(customers.metrics_port, "/metrics")
    commands = {(s["name"], s["outcome"]): v for s, v in samples(text, "salesops_commands_total")}
    assert commands[("register_prospect", "ok")] == 1
    assert commands[("register_prospect", "invalid")] == 1
    errors = samples(text, "salesops_errors_total")
    assert [(s["name"], s["code"], v) for s, v in errors] == [("register_prospect", "invalid", 1.0)]
    # The command worker decided the one valid command (the invalid one was refused before it).
    assert samples(text, "salesops_command_batch_size_count") == [({"service": "customers"}, 1.0)]
    assert samples(text, "salesops_commands_waiting") == [({"service": "customers"}, 0.0)]
