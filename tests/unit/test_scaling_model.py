"""Issue 30: the scale-out model of docs/scaling.md (deploy/scaling.py), fed with the per-command costs
docs/benchmarks.md measured."""

from __future__ import annotations

import pytest

from deploy import scaling
from deploy.scaling import Costs, costs_from, partition_rate, plan, simulate

TABLE = """
| part | figure | value | baseline | ratio | target | |
|---|---|---:|---:|---:|---|---|
| 1 commands | place_order over NATS, 64 in flight | 1,600 commands/s | 800 commands/s (direct) | 2.00× | | |
| 1 commands | latency p50 at 200/s | 3.0 ms | 1.2 ms (p50 of one direct place_order) | 2.50× | | |
| 4 relay | catch-up of a 100,000-event backlog | 40,000 events/s | 30,000 events/s | 1.33× | | |
| 3 rebuild | rebuild of all projections, 2,000,000 events | 200,000 events/s | 250,000 events/s | 0.80× | | |
"""
COSTS = costs_from(TABLE)


def test_the_costs_are_read_from_the_benchmark_table() -> None:
    assert Costs(saturation=1600, direct_ms=1.2, steady_p50_ms=3.0, relay=40_000, rebuild=200_000) == COSTS
    assert COSTS.per_command_ms == pytest.approx(0.625)
    assert COSTS.fixed_ms == pytest.approx(1.2 - 0.625)
    assert COSTS.bus_ms == pytest.approx(1.8)


def test_the_committed_benchmarks_give_every_cost() -> None:
    costs = costs_from(scaling.BENCHMARKS.read_text())
    assert min(costs.saturation, costs.direct_ms, costs.steady_p50_ms, costs.relay, costs.rebuild) > 0


def test_a_benchmark_document_without_a_row_is_refused_naming_it() -> None:
    without_relay = "\n".join(line for line in TABLE.splitlines() if "relay" not in line)
    with pytest.raises(LookupError, match="catch-up"):
        costs_from(without_relay)


def test_the_simulated_worker_saturates_at_the_measured_throughput() -> None:
    overloaded = simulate(COSTS.saturation * 1.2, COSTS)
    # Full batches: BATCH_LIMIT commands per fixed + BATCH_LIMIT x per-command cost.
    assert overloaded.throughput == pytest.approx(COSTS.saturation, rel=0.02)
    assert overloaded.busy == pytest.approx(1.0, abs=0.01)


def test_latency_grows_with_the_load_and_the_bus_round_trip_is_its_floor() -> None:
    p99s = [simulate(COSTS.saturation * share, COSTS).p99_ms for share in (0.1, 0.5, 0.75, 0.9)]
    assert p99s == sorted(p99s) and p99s[-1] > 2 * p99s[0]
    assert simulate(COSTS.saturation * 0.05, COSTS).p50_ms >= COSTS.bus_ms + COSTS.direct_ms


def test_a_partition_carries_the_highest_load_whose_p99_meets_the_target() -> None:
    capacity = partition_rate(COSTS, target_ms=10.0)
    assert simulate(capacity, COSTS).p99_ms <= 10.0
    assert simulate(capacity + COSTS.saturation / 100, COSTS).p99_ms > 10.0


def test_customers_hashed_over_partitions_scale_with_the_load() -> None:
    capacity = partition_rate(COSTS)
    small, large = plan(capacity * 2.5, COSTS, capacity), plan(capacity * 10, COSTS, capacity)
    assert (small.partitions, large.partitions) == (3, 10)
    assert large.busiest <= capacity and large.p99_ms <= scaling.LATENCY_TARGET_MS
    assert large.rebuild_minutes == pytest.approx(small.rebuild_minutes * 3 / 10)


def test_regions_pack_onto_partitions_until_the_largest_region_alone_is_too_much() -> None:
    capacity = 1000.0
    packed = plan(2100, COSTS, capacity, shares=(0.3, 0.25, 0.2, 0.15, 0.1))
    assert packed.partitions == 3 and packed.busiest <= capacity
    too_much = plan(4000, COSTS, capacity, shares=(0.3, 0.25, 0.2, 0.15, 0.1))
    assert too_much.partitions is None and too_much.busiest == pytest.approx(1200)
