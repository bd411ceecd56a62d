"""The observability plumbing on its own: JSON log lines, the endpoints' answers, counting replies."""

from __future__ import annotations

import json
import logging

import httpx
from prometheus_client.parser import text_string_to_metric_families

from shared.observability import JsonFormatter, ObservabilityServer, ServiceMetrics, correlated

PLACE_ORDER = {"service": "orders", "kind": "command", "name": "place_order"}


async def http_get(port: int, path: str) -> tuple[int, bytes]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        response = await client.get(path)
    return response.status_code, response.content


def test_json_log_lines_carry_service_level_message_and_correlation_id() -> None:
    formatter = JsonFormatter("orders")
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "placed %s", ("O-1",), None)
    with correlated("corr-42"):
        line = json.loads(formatter.format(record))
    assert line["service"] == "orders" and line["level"] == "INFO" and line["message"] == "placed O-1"
    assert line["correlation_id"] == "corr-42"
    assert "correlation_id" not in json.loads(formatter.format(record))  # only where known


def test_replies_are_counted_by_outcome_and_refusals_by_code_and_rule() -> None:
    metrics = ServiceMetrics("orders")
    metrics.count_reply("command", "place_order", {"ok": True, "result": {}})
    refusal = {"ok": False, "error": {"code": "forbidden", "message": "no", "rule": "O9"}}
    metrics.count_reply("command", "place_order", refusal)
    assert (
        metrics.registry.get_sample_value(
            "salesops_commands_total",
            {"service": "orders", "kind": "command", "name": "place_order", "outcome": "ok"},
        )
        == 1
    )
    labels = {
        "service": "orders",
        "kind": "command",
        "name": "place_order",
        "code": "forbidden",
        "rule": "O9",
    }
    assert metrics.registry.get_sample_value("salesops_errors_total", labels) == 1


async def test_endpoints_answer_health_readiness_and_metrics() -> None:
    metrics = ServiceMetrics("complaints")
    ready = {"value": False}

    async def check() -> bool:
        return ready["value"]

    async def probe(m: ServiceMetrics) -> None:
        m.outbox_backlog.labels(m.service).set(7)

    metrics.checks["nats"] = check
    metrics.probes.append(probe)
    server = ObservabilityServer(metrics, "127.0.0.1", 0)
    port = await server.start()
    try:
        assert (await http_get(port, "/healthz"))[0] == 200
        status, body = await http_get(port, "/readyz")
        assert status == 503 and json.loads(body)["checks"] == {"nats": False}
        ready["value"] = True
        assert (await http_get(port, "/readyz"))[0] == 200
        status, text = await http_get(port, "/metrics")
        families = {f.name: f for f in text_string_to_metric_families(text.decode())}
        assert status == 200 and families["salesops_outbox_backlog"].samples[0].value == 7
        assert (await http_get(port, "/nothing"))[0] == 404
    finally:
        await server.close()
