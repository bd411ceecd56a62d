"""The scale-out model of docs/scaling.md: how many partitions (an orders process with its relay, its
PostgreSQL and its JetStream subjects on a machine of its own) a load needs, from the per-command costs
measured by ``./salesops bench`` (read from docs/benchmarks.md).

A partition's command worker (shared/worker.py) is simulated in virtual time: commands arrive at random
(Poisson), the worker takes every waiting command up to a batch of ``BATCH_LIMIT`` and saves them together,
a batch of k commands taking ``fixed + k × per_command``. ``per_command`` is the cost at saturation (one
over the measured throughput with 64 in flight: batches are full there), ``fixed`` what a lone command
costs beyond it (the measured direct command's p50 minus ``per_command``), and the bus's round trip is
added to every latency (the measured p50 at 200/s minus the direct command's p50).

``python -m deploy.scaling`` prints the tables docs/scaling.md shows.
"""

from __future__ import annotations

import math
import random
import re
import sys
from dataclasses import dataclass
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
BATCH_LIMIT = 100  # commands the command worker saves together at most (shared/worker.py)
LATENCY_TARGET_MS = 10.0  # issue 30: p99 of a command at a steady load
LOADS = (200.0, 1_000.0, 2_000.0, 5_000.0, 20_000.0)  # peak commands/s of the scenarios in docs/scaling.md
HISTORY_EVENTS = 200_000_000  # ten years at ten times today's data (~20 M events a year, issue 30)
# An illustration, not a measurement: five sales regions of unequal size, the largest with 30 % of the sales.
REGION_SHARES = (0.30, 0.25, 0.20, 0.15, 0.10)
SIMULATED_COMMANDS, SEED = 20_000, 1  # arrivals per simulated load, and their random seed


@dataclass(frozen=True)
class Costs:
    """What one partition's machine (2 cores) measured, from docs/benchmarks.md's table."""

    saturation: (
        float  # commands/s, place_order with 64 in flight (orders, relay, NATS, PostgreSQL, reporting)
    )
    direct_ms: float  # p50 of one place_order made directly on the application (no bus)
    steady_p50_ms: float  # p50 over NATS at a steady 200/s
    relay: float  # events/s, the outbox relay catching up a backlog
    rebuild: float  # events/s, a rebuild of every projection from the event log

    @property
    def per_command_ms(self) -> float:
        return 1000.0 / self.saturation

    @property
    def fixed_ms(self) -> float:
        return max(self.direct_ms - self.per_command_ms, 0.0)

    @property
    def bus_ms(self) -> float:
        return max(self.steady_p50_ms - self.direct_ms, 0.0)


FIGURES = {  # Costs field → (the table row's figure, which column: value or baseline)
    "saturation": (r"place_order over NATS, 64 in flight", "value"),
    "direct_ms": (r"latency p50 at 200/s", "baseline"),
    "steady_p50_ms": (r"latency p50 at 200/s", "value"),
    "relay": (r"catch-up of a [\d,]+-event backlog", "value"),
    "rebuild": (r"rebuild of all projections, [\d,]+ events", "value"),
}


def costs_from(text: str) -> Costs:
    """The costs from a benchmark document's table (``| part | figure | value | baseline | ...``)."""
    rows = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 4:
            rows[cells[1]] = (cells[2], cells[3])
    values = {}
    for field, (pattern, column) in FIGURES.items():
        row = next((cells for name, cells in rows.items() if re.fullmatch(pattern, name)), None)
        if row is None:
            raise LookupError(f"docs/benchmarks.md has no row '{pattern}'")
        number = re.match(r"[\d,.]+", row[0 if column == "value" else 1])
        if number is None:
            raise LookupError(f"no {column} in the row '{pattern}'")
        values[field] = float(number[0].replace(",", ""))
    return Costs(**values)


@dataclass(frozen=True)
class Simulated:
    rate: float  # commands/s offered
    throughput: float  # commands/s answered
    p50_ms: float
    p99_ms: float
    busy: float  # share of the time the worker was deciding and saving


def simulate(rate: float, costs: Costs) -> Simulated:
    """One partition's command worker under ``rate`` commands/s (Poisson), in virtual time."""
    rng = random.Random(SEED)
    commands = SIMULATED_COMMANDS
    arrivals = []
    clock = 0.0
    for _ in range(commands):
        clock += rng.expovariate(rate)
        arrivals.append(clock)
    latencies: list[float] = []
    now = busy = 0.0
    taken = 0
    while taken < commands:
        now = max(now, arrivals[taken])  # idle until the next command
        waiting = taken
        while waiting < commands and waiting - taken < BATCH_LIMIT and arrivals[waiting] <= now:
            waiting += 1
        batch = (costs.fixed_ms + (waiting - taken) * costs.per_command_ms) / 1000.0
        now += batch
        busy += batch
        latencies += [now - arrivals[i] + costs.bus_ms / 1000.0 for i in range(taken, waiting)]
        taken = waiting
    latencies.sort()
    return Simulated(
        rate=rate,
        throughput=commands / now,
        p50_ms=1000.0 * latencies[len(latencies) // 2],
        p99_ms=1000.0 * latencies[int(len(latencies) * 0.99)],
        busy=busy / now,
    )


def partition_rate(costs: Costs, target_ms: float = LATENCY_TARGET_MS) -> float:
    """The highest load (commands/s, to 1 % of the saturation) one partition carries with its simulated
    p99 within ``target_ms``."""
    low, high = 0, 100  # percent of the saturation: low meets the target, high does not
    while high - low > 1:
        middle = (low + high) // 2
        if simulate(costs.saturation * middle / 100, costs).p99_ms <= target_ms:
            low = middle
        else:
            high = middle
    return costs.saturation * low / 100


@dataclass(frozen=True)
class Plan:
    load: float  # peak commands/s
    partitions: int | None  # None: cannot be met this way (one unit alone is more than a partition carries)
    busiest: float  # commands/s on the busiest partition
    p99_ms: float  # simulated, busiest partition
    relay_share: float  # of one relay's catch-up rate, busiest partition (one event per command)
    rebuild_minutes: float  # the history's share of the busiest partition, rebuilt on its own machine


def plan(load: float, costs: Costs, capacity: float, shares: tuple[float, ...] | None = None) -> Plan:
    """Partitions for ``load`` with at most ``capacity`` commands/s each (``partition_rate``): customers
    hashed over as many partitions as needed (``shares`` None), or whole regions (``shares``: each region's
    share of the load) packed onto partitions, the largest first."""
    if shares is None:
        partitions: int | None = max(1, math.ceil(load / capacity))
        loads = [load / (partitions or 1)]
    else:
        bins: list[float] = []
        for share in sorted(shares, reverse=True):
            fits = next((i for i, used in enumerate(bins) if used + share * load <= capacity), None)
            if fits is None:
                bins.append(share * load)
            else:
                bins[fits] += share * load
        partitions = len(bins) if max(bins) <= capacity else None
        loads = bins
    busiest = max(loads)
    return Plan(
        load=load,
        partitions=partitions,
        busiest=busiest,
        p99_ms=simulate(busiest, costs).p99_ms,
        relay_share=busiest / costs.relay,
        rebuild_minutes=HISTORY_EVENTS * busiest / load / costs.rebuild / 60,
    )


def main() -> int:
    costs = costs_from(BENCHMARKS.read_text())
    print(
        f"costs (docs/benchmarks.md): saturation {costs.saturation:,.0f}/s → {costs.per_command_ms:.2f} ms a "
        f"command in a full batch, {costs.fixed_ms:.2f} ms per batch, bus {costs.bus_ms:.1f} ms; relay "
        f"{costs.relay:,.0f} events/s; rebuild {costs.rebuild:,.0f} events/s"
    )
    print("\n| offered commands/s | answered/s | p50 | p99 | worker busy |\n|---:|---:|---:|---:|---:|")
    for share in (0.1, 0.25, 0.5, 0.75, 0.9, 1.1):
        s = simulate(costs.saturation * share, costs)
        print(
            f"| {s.rate:,.0f} ({share:.0%}) | {s.throughput:,.0f} | {s.p50_ms:.1f} ms | {s.p99_ms:.1f} ms "
            f"| {s.busy:.0%} |"
        )
    capacity = partition_rate(costs)
    print(f"\none partition within p99 {LATENCY_TARGET_MS:g} ms: {capacity:,.0f} commands/s")
    print(
        "\n| peak commands/s | partitioned by | partitions | busiest partition | its p99 | its relay load "
        f"| its share of {HISTORY_EVENTS / 1e6:,.0f} M events rebuilt |\n|---:|---|---:|---:|---:|---:|---:|"
    )
    for load in LOADS:
        for by, shares in (("customer (hash)", None), ("region (5 regions)", REGION_SHARES)):
            p = plan(load, costs, capacity, shares)
            if p.partitions is None:
                print(f"| {load:,.0f} | {by} | – | the largest region alone: {p.busiest:,.0f}/s | | | |")
                continue
            print(
                f"| {load:,.0f} | {by} | {p.partitions} | {p.busiest:,.0f}/s | {p.p99_ms:.1f} ms | "
                f"{p.relay_share:.1%} | {p.rebuild_minutes:.1f} min |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
