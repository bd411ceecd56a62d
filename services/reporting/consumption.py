"""What the operations page shows of reporting's consumers: per durable, the events not yet consumed
(the consumption lag) and the dead letters it parked, measured afresh by the same probe as ``/metrics``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import Gauge

from shared.observability import Probe, ServiceMetrics

Consumption = Callable[[], Awaitable[list[dict[str, Any]]]]


def _samples(gauge: Gauge) -> list[tuple[dict[str, str], float]]:
    return [(s.labels, s.value) for metric in gauge.collect() for s in metric.samples]


def consumption_of(metrics: ServiceMetrics, probe: Probe) -> Consumption:
    async def figures() -> list[dict[str, Any]]:
        await probe(metrics)
        parked = {labels["durable"]: int(value) for labels, value in _samples(metrics.dead_letters)}
        return sorted(
            (
                {
                    "durable": labels["durable"],
                    "stream": labels["stream"],
                    "pending": int(value),
                    "dead_letters": parked.get(labels["durable"], 0),
                }
                for labels, value in _samples(metrics.consumer_lag)
            ),
            key=lambda row: row["durable"],
        )

    return figures
