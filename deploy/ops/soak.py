"""The chaos soak: steady load for minutes while faults overlap at random, then proof that nothing was lost.

``python -m deploy.ops.soak --minutes N [--seed S] [--rate R]`` (``./salesops soak --minutes N``) runs the
five services as processes in a database and namespace of their own, sends a steady load from another
process (``deploy.local.load``), and meanwhile starts a fault every few seconds, at random and without
waiting for the ones still running to end:

- ``kill service``: kill -9 of a service process (a write service's relay dies with it), started again
  after a moment;
- ``kill relay``: kill -9 of a write service's relay process alone (its service starts another);
- ``cut relay connection``: the relay's TCP connection to NATS destroyed under it (``ss -K``; needs root
  and a kernel with socket destroy, as Debian's);
- ``terminate sessions``: every PostgreSQL session of the soak's database ended with
  ``pg_terminate_backend`` (the machine's shared server keeps running);
- ``slow consumer``: reporting stopped (SIGSTOP) for a few seconds, so its deliveries time out and come
  again.

Then the faults stop, every service runs again, the load ends, and the checks of the fault suite run
(``deploy.ops.checks``): every acknowledged command stored and no refused one, every stored event in
reporting's log exactly once (reconciliation equal), the live projections equal a rebuild, nothing parked
as a dead letter. It prints one line ending ``lost L, double-counted D``, writes its figures to
``docs/reliability.md`` (section ``soak``), removes its database and streams, and exits 0 only when every
check holds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import nats
from nats.aio.client import Client as NATS

from deploy.local.processes import SERVICES, ServiceProcesses, wait_ready
from deploy.ops.checks import (
    ACKNOWLEDGED_NOT_STORED,
    FIGURES_HEADER,
    REFUSED_BUT_STORED,
    Figures,
    LoadProcess,
    command_outcomes,
    connect,
    figures,
    live_equals_rebuild,
    process_env,
    relay_children,
    stored_keys,
    until_reconciled,
)
from deploy.ops.reconcile import WRITE_SERVICES
from deploy.ops.reliability_doc import table, write_section
from shared.database import drop_database, ensure_database
from shared.deadletter import DeadLetters
from shared.identity.tokens import ensure_signing_key, public_pem
from shared.settings import Settings
from shared.streams import delete_streams

FAULT_GAP_SECONDS = (1.0, 5.0)  # between the starts of two faults
DOWN_SECONDS = (0.5, 4.0)  # how long a killed service stays down, a consumer stays stopped
QUIET_TIMEOUT = 300.0  # after the faults: time for the relays and reporting to catch up


async def run(*command: str) -> str:
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )
    out, _ = await process.communicate()
    return out.decode()


async def tcp_connections(pid: int, peer_port: int) -> list[str]:
    """The local addresses (``host:port``) of ``pid``'s established TCP connections to ``peer_port``."""
    found = []
    for line in (await run("ss", "-tnpH", "state", "established")).splitlines():
        fields = line.split()
        if len(fields) >= 5 and f"pid={pid}," in line and fields[3].rsplit(":", 1)[-1] == str(peer_port):
            found.append(fields[2])
    return found


@dataclass
class Soak:
    settings: Settings
    processes: ServiceProcesses
    nc: NATS
    rng: random.Random
    busy: set[str] = field(default_factory=set)  # services a fault is working on: one fault each at a time
    injected: Counter[str] = field(default_factory=Counter)

    async def kill_service(self) -> None:
        service = self.free(SERVICES)
        if service is None:
            return
        self.processes.kill(service)
        self.injected["kill -9 service"] += 1
        await asyncio.sleep(self.rng.uniform(*DOWN_SECONDS))
        self.processes.start(service)
        self.busy.discard(service)

    async def kill_relay(self) -> None:
        service = self.free(WRITE_SERVICES)
        if service is None:
            return
        try:
            for relay in relay_children(self.processes.running[service].pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(relay, signal.SIGKILL)
                    self.injected["kill -9 relay"] += 1
        finally:
            self.busy.discard(service)

    async def cut_relay_connection(self) -> None:
        service = self.free(WRITE_SERVICES)
        if service is None:
            return
        try:
            nats_port = urlsplit(self.settings.nats_url.split(",")[0]).port or 4222
            for relay in relay_children(self.processes.running[service].pid):
                for local in await tcp_connections(relay, nats_port):
                    await run(
                        "ss", "-K", "-tn", "state", "established", "src", local, "dport", "=", f":{nats_port}"
                    )
                    self.injected["relay NATS connection cut"] += 1
        finally:
            self.busy.discard(service)

    async def terminate_sessions(self) -> None:
        conn = await asyncpg.connect(self.settings.postgres_dsn)
        try:
            ended = await conn.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await conn.close()
        self.injected["PostgreSQL sessions terminated"] += int(ended or 0)
        self.injected["terminate sessions"] += 1

    async def slow_consumer(self) -> None:
        if self.free(["reporting"]) is None:
            return
        process = self.processes.running["reporting"]
        try:
            process.send_signal(signal.SIGSTOP)
            self.injected["reporting stopped (slow consumer)"] += 1
            await asyncio.sleep(self.rng.uniform(*DOWN_SECONDS))
        finally:
            process.send_signal(signal.SIGCONT)
            self.busy.discard("reporting")

    def free(self, candidates: Sequence[str]) -> str | None:
        """A service no other fault is working on (now marked busy), or None."""
        choices = [s for s in candidates if s not in self.busy and s in self.processes.running]
        if not choices:
            return None
        chosen = self.rng.choice(choices)
        self.busy.add(chosen)
        return chosen

    async def inject_until(self, deadline: float) -> None:
        faults: list[Callable[[], Coroutine[Any, Any, None]]] = [
            self.kill_service,
            self.kill_relay,
            self.cut_relay_connection,
            self.terminate_sessions,
            self.slow_consumer,
        ]
        running: set[asyncio.Task[None]] = set()
        while time.monotonic() < deadline:
            running.add(asyncio.create_task(self.rng.choice(faults)()))
            await asyncio.sleep(self.rng.uniform(*FAULT_GAP_SECONDS))
        for outcome in await asyncio.gather(*running, return_exceptions=True):
            if isinstance(outcome, Exception):
                self.injected[f"fault failed: {outcome!r}"] += 1


@dataclass
class Result:
    minutes: float
    summary: dict[str, Any]
    outcomes: dict[str, int]
    rows: list[Figures]
    reconciled: bool
    rebuild_equal: bool
    parked: int
    injected: Counter[str]

    @property
    def lost(self) -> int:
        return sum(r.lost for r in self.rows) + self.outcomes.get(ACKNOWLEDGED_NOT_STORED, 0)

    @property
    def double_counted(self) -> int:
        return sum(r.duplicates for r in self.rows) + self.outcomes.get(REFUSED_BUT_STORED, 0)

    @property
    def passed(self) -> bool:
        return (
            self.lost == 0
            and self.double_counted == 0
            and self.reconciled
            and self.rebuild_equal
            and not self.parked
        )

    def line(self) -> str:
        faults = sum(n for k, n in self.injected.items() if k != "PostgreSQL sessions terminated")
        stored = sum(r.stored for r in self.rows)
        sent, acknowledged = self.summary["sent"], self.summary["ok"]
        reconciled = "equal" if self.reconciled else "UNEQUAL"
        rebuild = "equal" if self.rebuild_equal else "UNEQUAL"
        return (
            f"soak {self.minutes:g} min: {sent} commands ({acknowledged} acknowledged), {faults} faults, "
            f"{stored} events stored; reconciliation {reconciled}, projections {rebuild} to a rebuild, "
            f"{self.parked} parked; "
            f"lost {self.lost}, double-counted {self.double_counted}"
        )


async def soak(settings: Settings, minutes: float, rate: float, rng: random.Random, workdir: Path) -> Result:
    processes = ServiceProcesses(process_env(settings), workdir)
    nc = await nats.connect(settings.nats_url)
    conn: asyncpg.Connection | None = None
    load: LoadProcess | None = None
    try:
        for service in SERVICES:
            processes.start(service)
        for service in SERVICES:
            await wait_ready(nc, settings.namespace, service)
        seconds = minutes * 60
        load = LoadProcess(
            settings, workdir, commands=int(rate * seconds) + 1, seconds=seconds + 60, rate=rate
        )
        chaos = Soak(settings, processes, nc, rng)
        await chaos.inject_until(time.monotonic() + seconds)
        for service in SERVICES:  # every service answers again before the load ends
            await wait_ready(nc, settings.namespace, service, timeout=120)
        summary = await load.finish(timeout=120)
        conn = await connect(settings)
        reports = await until_reconciled(settings, timeout=QUIET_TIMEOUT)
        await asyncio.sleep(1.0)  # redeliveries still in flight must change nothing
        return Result(
            minutes=minutes,
            summary=summary,
            outcomes=command_outcomes(summary, await stored_keys(conn, summary)),
            rows=await figures(settings, nc, conn),
            reconciled=all(r.equal for r in reports),
            rebuild_equal=await live_equals_rebuild(conn, settings),
            parked=len(await DeadLetters(nc.jetstream(), settings).parked()),
            injected=chaos.injected,
        )
    finally:
        if load is not None:
            load.kill()
        processes.stop_all()
        if conn is not None:
            await conn.close()
        await delete_streams(nc.jetstream(), settings, list(SERVICES))
        await nc.close()


def write_figures(result: Result, seed: int, rate: float) -> None:
    write_section(
        "soak",
        "Chaos soak: overlapping faults under steady load",
        f"./salesops soak --minutes {result.minutes:g} --seed {seed} (python -m deploy.ops.soak)",
        [
            f"Steady load from a separate process ({rate:g} commands/s offered, each with an idempotency "
            f"key) for {result.minutes:g} min while a fault started every {FAULT_GAP_SECONDS[0]:g}–"
            f"{FAULT_GAP_SECONDS[1]:g} s at random, overlapping the ones still running: kill -9 of a "
            "service (its relay with it) or of a relay alone, a relay's connection to NATS cut (`ss -K`), "
            "every PostgreSQL session of the database terminated, reporting stopped for a few seconds (a "
            "slow consumer). Then the faults stopped and the system was left to catch up.",
            "",
            f"Result: {result.line()}",
            "",
            *table(
                [
                    ("commands sent", result.summary["sent"]),
                    *sorted(result.outcomes.items()),
                    *sorted(result.injected.items()),
                ]
            ),
            "",
            *FIGURES_HEADER,
            *(row.row() for row in result.rows),
            "",
            "Lost = stored events missing from reporting's log plus acknowledged commands not stored; "
            "double-counted = messages or applications beyond the stored events plus refused commands "
            "stored.",
            "",
        ],
    )


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m deploy.ops.soak", description="The chaos soak (docs/operations.md)."
    )
    p.add_argument("--minutes", type=float, default=5.0, help="how long the faults run")
    p.add_argument("--rate", type=float, default=20.0, help="commands a second the load offers")
    p.add_argument(
        "--seed", type=int, default=None, help="the faults' random seed (printed; default: random)"
    )
    p.add_argument("--no-doc", action="store_true", help="do not write docs/reliability.md")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    token = uuid.uuid4().hex[:10]
    settings = Settings(namespace=f"soak{token}", postgres_db=f"salesops_soak_{token}")
    ensure_database(settings, list(SERVICES))
    workdir = Path(tempfile.mkdtemp(prefix="salesops-soak-"))
    if "SALESOPS_IDENTITY_PUBLIC_KEY" not in os.environ:
        # A token issuer of the soak's own: its services verify with the public key, its load signs.
        key_file = workdir / "signing.pem"
        os.environ["SALESOPS_IDENTITY_PUBLIC_KEY"] = public_pem(ensure_signing_key(key_file))
        os.environ["SALESOPS_IDENTITY_SIGNING_KEY_FILE"] = str(key_file)
    print(f"soak: {args.minutes:g} min, seed {seed}, service logs in {workdir}", file=sys.stderr)
    try:
        result = asyncio.run(soak(settings, args.minutes, args.rate, random.Random(seed), workdir))
    finally:
        drop_database(settings)
    if not args.no_doc:
        write_figures(result, seed, args.rate)
    if result.passed:  # the logs are kept where a check failed
        shutil.rmtree(workdir, ignore_errors=True)
    print(result.line())
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
