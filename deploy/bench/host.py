"""What the host does beside the benchmark: the disk's and CPU's stalls, profiles, speed, versions."""

from __future__ import annotations

import contextlib
import gc
import os
import platform
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from deploy.bench import diskwaits
from deploy.local.processes import ServiceProcesses


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """This process's cyclic garbage collector paused while it measures the commands: one full collection
    of the client (~50 ms, measured) counted against the services as a stall of every command behind it.
    Reference counting still frees what the client drops."""
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


@dataclass
class HostStalls:
    """What the machine went through during a run: the disk's stalls as PostgreSQL met them (one of its
    processes waiting on the disk for ``diskwaits.LONGEST`` or more at a stretch: ``deploy/bench/
    diskwaits.py``), on the clock of the client's loop; and the CPU taken by the hypervisor."""

    disk: list[tuple[float, float]] | None = None  # (start, end), time.monotonic()
    stolen: float | None = None  # share of all CPU time

    def met_a_stall(self, start: float, end: float) -> bool:
        return any(start < until and end > since for since, until in self.disk or ())

    def describe(self) -> str:
        parts = []
        longest = f"{1000 * diskwaits.LONGEST:.0f} ms"
        if self.disk is not None:
            lengths = sorted((round(1000 * (b - a)) for a, b in self.disk), reverse=True)
            if lengths:
                times = "once" if len(lengths) == 1 else f"{len(lengths)} times"
                parts.append(
                    f"PostgreSQL waited on the disk for {longest} or more at a stretch {times} "
                    f"({', '.join(f'{x:,} ms' for x in lengths)})"
                )
            else:
                parts.append(f"PostgreSQL never waited on the disk for {longest} or more at a stretch")
        if self.stolen is not None:
            parts.append(f"{100 * self.stolen:.1f} % of the CPU stolen")
        return ", ".join(parts) or "not measurable here"


def _cpu_ticks() -> tuple[int, int]:
    """(stolen, all) jiffies of every CPU since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return fields[7], sum(fields)


@contextlib.contextmanager
def host_stalls() -> Iterator[HostStalls]:
    """The disk's stalls are watched by a process of their own (``deploy/bench/diskwaits.py``)."""
    found = HostStalls()
    watch = diskwaits.start()
    stolen_before, all_before = _cpu_ticks()
    try:
        yield found
    finally:
        found.disk = diskwaits.stop(watch)
        stolen_after, all_after = _cpu_ticks()
        if all_after > all_before:
            found.stolen = (stolen_after - stolen_before) / (all_after - all_before)


@contextlib.contextmanager
def profiled(processes: ServiceProcesses, services: tuple[str, ...], run: str) -> Iterator[None]:
    """With ``SALESOPS_BENCH_PROFILE=DIR``: py-spy samples these services during this run
    (``DIR/<run>-<service>.txt``, collapsed stacks; ``python -m deploy.bench.top DIR/steady-orders.txt`` sums
    them by function)."""
    target = os.environ.get("SALESOPS_BENCH_PROFILE")
    spy = Path(sys.executable).parent / "py-spy"
    if not target or not spy.exists():
        yield
        return
    Path(target).mkdir(parents=True, exist_ok=True)
    spies = [
        subprocess.Popen(
            [
                str(spy),
                "record",
                "--gil",
                "-p",
                str(processes.running[s].pid),
                "-f",
                "raw",
                "-o",
                f"{target}/{run}-{s}.txt",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for s in services
    ]
    try:
        yield
    finally:
        for process in spies:
            process.send_signal(signal.SIGINT)
            process.wait(30)


def versions() -> str:
    packages = ["eventsourcing", "psycopg", "asyncpg", "nats-py", "faststream", "orjson", "pydantic"]
    found = []
    for name in packages:
        with contextlib.suppress(metadata.PackageNotFoundError):
            found.append(f"{name} {metadata.version(name)}")
    pg = (
        subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip()
        if _has("psql")
        else ""
    )
    nats_server = ""
    server = Path(sys.executable).parent / "nats-server"
    if server.exists():
        nats_server = subprocess.run(
            [str(server), "--version"], capture_output=True, text=True
        ).stdout.strip()
    return ", ".join([f"Python {platform.python_version()}", *found, pg, nats_server]).strip(", ")


def _has(command: str) -> bool:
    from shutil import which

    return which(command) is not None


def host_speed() -> float:
    """Seconds for a fixed piece of pure-Python work: how fast this host runs the interpreter now (the
    2-core hosts drift by a quarter and more within the hour)."""
    started = time.perf_counter()
    total = 0
    for i in range(10_000_000):
        total += i
    return time.perf_counter() - started


def cpu_models(cpuinfo: Path = Path("/proc/cpuinfo")) -> list[str]:
    """The model name of each processor ``cpuinfo`` lists (none where it cannot be read)."""
    with contextlib.suppress(OSError):
        return [m.strip() for m in re.findall(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.M)]
    return []


def machine() -> str:
    model = next(iter(cpu_models()), "")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    mem = ""
    with contextlib.suppress(OSError):
        total = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
        mem = f", {int(total) / 1024 / 1024:.1f} GB RAM"
    system = f"{platform.system()} {platform.release()}"
    return f"{os.cpu_count()} cores ({model}){mem}, {system}; load average {load}"
