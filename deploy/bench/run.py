"""The benchmark: every figure beside a raw baseline measured in the same run, on the same machine.

Everything runs on loopback with its own databases (``salesops_bench_<token>_*``) and NATS namespace,
removed at the end. The orders and reporting services run as separate processes (``deploy/local/
processes.py``) so that the client's CPU is not the services'; the machine may have only 2 cores, so the
client is kept light (nats-py requests, no pydantic on the hot path).

Parts: (1) commands, (2) propagation, (3) rebuild, (4) relay catch-up, (5) reports. ``--full`` runs the
sizes of the targets (a year of ~2 M events, a 100,000-event backlog); the default quick mode runs
smaller sizes in under two minutes. Results: a table on stdout and ``docs/benchmarks.md``. ``--scale N``
runs the year part alone on N times the full year with ten years of imported history (issue #30;
``deploy/bench/scale.py``): its figures in ``docs/benchmarks-scale.json`` and the plot beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from deploy.bench.commands import part_commands
from deploy.bench.common import FULL, QUICK, Results
from deploy.bench.host import host_speed, machine
from deploy.bench.relay import part_relay
from deploy.bench.report import table, write_doc
from deploy.bench.scale import plot, record, scaled
from deploy.bench.year import part_year
from deploy.local.processes import ROOT


async def run(full: bool, parts: set[str]) -> Results:
    sizes = FULL if full else QUICK
    results = Results("full" if full else "quick")
    token = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory(prefix="salesops-bench-") as logs:
        steps: list[tuple[str, Callable[[], Awaitable[object]]]] = [
            ("commands", lambda: part_commands(results, sizes, token, Path(logs))),
            ("relay", lambda: part_relay(results, sizes, token)),
            ("year", lambda: part_year(results, sizes, token)),
        ]
        for name, step in steps:
            if name not in parts:
                continue
            try:
                await step()
            except Exception as error:  # the other parts still run; the failure is in the report
                print(f"part {name} FAILED: {error!r}", flush=True)
                results.failed.append(f"part '{name}' failed: {' '.join(str(error).split())[:300]}")
    return results


SCALE_RECORD = ROOT / "docs" / "benchmarks-scale.json"


async def run_scaled(scales: Sequence[int]) -> Results:
    """The year part at each of ``scales``, each recorded and the plot drawn again from every scale
    recorded; a failed scale is reported, the others still run."""
    results = Results(f"scale {' '.join(map(str, scales))}")
    for n in scales:
        print(f"--- scale {n}×", flush=True)
        try:
            point = await part_year(results, scaled(n), f"{uuid.uuid4().hex[:8]}", scale=n)
        except Exception as error:
            print(f"scale {n} FAILED: {error!r}", flush=True)
            results.failed.append(f"scale {n} failed: {' '.join(str(error).split())[:300]}")
            continue
        points = record(SCALE_RECORD, point)
        SCALE_RECORD.with_suffix(".svg").write_text(plot(points))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m deploy.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the sizes of the targets (several minutes)")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=["commands", "relay", "year"],
        help="run some parts only (no doc written)",
    )
    parser.add_argument(
        "--scale",
        nargs="+",
        type=int,
        help="the year part alone on N times the full year with ten years of history (e.g. 1 3 10)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args()
    load_before = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    speed_before = host_speed()
    started = time.perf_counter()
    if args.scale:
        results = asyncio.run(run_scaled(args.scale))
    else:
        results = asyncio.run(run(args.full, set(args.only or ["commands", "relay", "year"])))
    results.notes.append(
        f"The host's speed: a pure-Python loop of 10 M additions took {speed_before:.2f} s before the run "
        f"and {host_speed():.2f} s after it (lower is faster: it tells runs on a slow spell of the host)."
    )
    # The run's own processes load the machine: only the load found before it says others were busy.
    busy = float(load_before.split(",")[0])
    if busy > 1.0:
        results.notes.append(
            f"**Measured under load**: other processes shared the machine (load average {busy:.1f} on "
            f"{os.cpu_count()} cores before the run started), so the figures are low and noisy; the ratios "
            "to the baselines, measured in the same run, are the fairer comparison."
        )
    print()
    print(table(results))
    for note in results.notes:
        print(f"\n{note}")
    print(f"\n{results.mode} run took {time.perf_counter() - started:.0f} s; machine: {machine()}")
    if args.scale:
        print(f"recorded in {SCALE_RECORD} and {SCALE_RECORD.with_suffix('.svg')}")
    elif not args.only:
        write_doc(results, load_before, args.out)
        print(f"wrote {args.out}")
    if results.failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
