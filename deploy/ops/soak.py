"""The chaos soak: steady load for minutes while faults overlap at random, then proof that nothing was lost.

``python -m deploy.ops.soak --minutes N [--seed S] [--rate R]`` (``./salesops soak --minutes N``) runs,
in a directory of its own, a PostgreSQL cluster of its own (``deploy.ops.pgcluster``: the machine's shared
server is never restarted), a 3-node JetStream cluster (streams with 3 replicas) and the five services as
processes, sends a steady load from another process (``deploy.local.load``), and meanwhile starts a fault
every few seconds, at random and without waiting for the ones still running to end:

- ``kill service``: kill -9 of a service process (a write service's relay dies with it), started again
  after a moment;
- ``kill relay``: kill -9 of a write service's relay process alone (its service starts another);
- ``cut relay connection``: the relay's TCP connection to NATS destroyed under it (``ss -K``; needs root
  and a kernel with socket destroy, as Debian's);
- ``terminate sessions``: every PostgreSQL session of the soak's database ended with
  ``pg_terminate_backend``;
- ``restart PostgreSQL``: kill -9 of the soak's PostgreSQL server (a crash: it recovers from its WAL
  when started again after a moment);
- ``kill NATS node``: kill -9 of one node of the 3-node cluster (one at a time: two keep the quorum),
  started again after a moment;
- ``slow consumer``: reporting stopped (SIGSTOP) for a few seconds, so its deliveries time out and come
  again.

Then the faults stop, every service runs again, the load ends, and the checks of the fault suite run
(``deploy.ops.checks``): every acknowledged command stored and no refused one, every stored event in
reporting's log exactly once (reconciliation equal), the live projections equal a rebuild, nothing parked
as a dead letter. It prints one line ending ``lost L, double-counted D``, writes its figures to
``docs/reliability.md`` (section ``soak``), stops its servers, and exits 0 only when every check holds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import nats
from nats.aio.client import Client as NATS

from deploy.local.processes import SERVICES, ServiceProcesses, wait_ready
from deploy.nats.servers import NatsServers
from deploy.ops import checks
from deploy.ops.pgcluster import LocalPostgres
from deploy.ops.reconcile import WRITE_SERVICES
from deploy.ops.reliability_doc import table, write_section
from shared.bus import nats_options
from shared.database import ensure_database
from shared.deadletter import DeadLetters
from shared.settings import Settings

SERVERS = ("postgres", "nats")
SESSIONS = "PostgreSQL sessions terminated"  # counts of consequences, not of faults:
RESTARTED = "service exited on its own, started again"  # what the server faults mark busy
FAULT_GAP_SECONDS = (1.0, 5.0)  # between the starts of two faults
DOWN_SECONDS = (0.5, 4.0)  # how long a killed service stays down, a consumer stays stopped
QUIET_TIMEOUT = 300.0  # after the faults: time for the relays and reporting to catch up
SUPERVISOR_SECONDS = 1.0


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
    postgres: LocalPostgres
    nats_servers: NatsServers
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

    @contextlib.contextmanager
    def relays(self) -> Iterator[list[int]]:
        """The relay processes of a write service no other fault is working on (none when all are busy)."""
        service = self.free(WRITE_SERVICES)
        if service is None:
            yield []
            return
        try:
            yield checks.relay_children(self.processes.running[service].pid)
        finally:
            self.busy.discard(service)

    async def kill_relay(self) -> None:
        with self.relays() as relays:
            for relay in relays:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(relay, signal.SIGKILL)
                    self.injected["kill -9 relay"] += 1

    async def cut_relay_connection(self) -> None:
        with self.relays() as relays:
            for relay in relays:
                for node in self.nats_servers.nodes:  # connected to any one of them
                    for local in await tcp_connections(relay, node.port):
                        cut = ["ss", "-K", "-tn", "state", "established", "src", local, "dport", "="]
                        await run(*cut, f":{node.port}")
                        self.injected["relay NATS connection cut"] += 1

    async def terminate_sessions(self) -> None:
        if self.free(["postgres"]) is None:  # being restarted: its sessions are gone anyway
            return
        try:
            conn = await asyncpg.connect(self.settings.postgres_dsn)
            try:
                ended = await conn.fetchval(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            finally:
                await conn.close()
        finally:
            self.busy.discard("postgres")
        self.injected[SESSIONS] += int(ended or 0)
        self.injected["terminate sessions"] += 1

    async def restart_postgres(self) -> None:
        if self.free(["postgres"]) is None:
            return
        try:
            await asyncio.to_thread(self.postgres.kill)
            self.injected["PostgreSQL killed (kill -9) and restarted"] += 1
            await asyncio.sleep(self.rng.uniform(*DOWN_SECONDS))
        finally:
            await asyncio.to_thread(self.postgres.start)
            self.busy.discard("postgres")

    async def kill_nats_node(self) -> None:
        if self.free(["nats"]) is None:
            return
        node = self.rng.randrange(len(self.nats_servers.nodes))
        try:
            await asyncio.to_thread(self.nats_servers.kill, node)
            self.injected["NATS node killed (kill -9)"] += 1
            await asyncio.sleep(self.rng.uniform(*DOWN_SECONDS))
        finally:
            self.nats_servers.start(node)
            try:
                # The node back and caught up before another may go: two down would lose the quorum.
                await asyncio.to_thread(self.nats_servers.wait_ready, QUIET_TIMEOUT)
            finally:
                self.busy.discard("nats")

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
        present = [s for s in candidates if s in self.processes.running or s in SERVERS]
        choices = [s for s in present if s not in self.busy]
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
            self.restart_postgres,
            self.kill_nats_node,
            self.slow_consumer,
        ]
        running: set[asyncio.Task[None]] = set()
        supervisor = asyncio.create_task(self.supervise())
        while time.monotonic() < deadline:
            running.add(asyncio.create_task(self.rng.choice(faults)()))
            await asyncio.sleep(self.rng.uniform(*FAULT_GAP_SECONDS))
        for outcome in await asyncio.gather(*running, return_exceptions=True):
            if isinstance(outcome, Exception):
                self.injected[f"fault failed: {outcome!r}"] += 1
        supervisor.cancel()

    async def supervise(self) -> None:
        """What a supervisor (systemd, Kubernetes) does: a service that exited on its own is started again.
        One starting while PostgreSQL is down gives up; a fault's own kill is the fault's to undo."""
        while True:
            await asyncio.sleep(SUPERVISOR_SECONDS)
            for service, process in list(self.processes.running.items()):
                if service not in self.busy and process.poll() is not None:
                    self.processes.start(service)
                    self.injected[RESTARTED] += 1


async def running_again(processes: ServiceProcesses, nc: NATS, namespace: str, service: str) -> None:
    """Until the service answers, started again whenever it exits (it gives up while a server is down)."""
    deadline = time.monotonic() + QUIET_TIMEOUT
    while True:
        if processes.running[service].poll() is not None:
            processes.start(service)
        try:
            await wait_ready(nc, namespace, service, timeout=10)
            return
        except TimeoutError:
            if time.monotonic() > deadline:
                raise


@dataclass
class Result(checks.Checked):
    minutes: float
    parked: int
    injected: Counter[str]

    @property
    def passed(self) -> bool:
        return super().passed and not self.parked

    def line(self) -> str:
        faults = sum(n for k, n in self.injected.items() if k not in (SESSIONS, RESTARTED))
        stored = sum(r.stored for r in self.rows)
        sent, acknowledged = self.summary["sent"], self.summary["ok"]
        return (
            f"soak {self.minutes:g} min: {sent} commands ({acknowledged} acknowledged), {faults} faults, "
            f"{stored} events stored; {self.agreement()}, {self.parked} parked; {self.tally()}"
        )


async def soak(minutes: float, rate: float, rng: random.Random, workdir: Path) -> Result:
    postgres = LocalPostgres(workdir / "pg" / "data")
    nats_servers = NatsServers(workdir / "nats", size=3)
    settings = checks.drill_settings("soak", postgres.port, nats_servers.urls, stream_replicas=3)
    processes = ServiceProcesses(checks.process_env(settings), workdir)
    nc: NATS | None = None
    conn: asyncpg.Connection | None = None
    load: checks.LoadProcess | None = None
    postgres.init()
    postgres.start()
    nats_servers.start()
    try:
        nats_servers.wait_ready()
        ensure_database(settings, list(SERVICES))
        nc = await nats.connect(name="soak", error_cb=checks.quietly, **nats_options(settings))
        await checks.start_services(processes, nc, settings.namespace)
        seconds = minutes * 60
        load = checks.LoadProcess(
            settings, workdir, commands=int(rate * seconds) + 1, seconds=seconds + 60, rate=rate
        )
        chaos = Soak(settings, processes, postgres, nats_servers, rng)
        await chaos.inject_until(time.monotonic() + seconds)
        if not postgres.running():  # a restart that failed is counted as such; the checks need it up
            postgres.start()
        for service in SERVICES:  # every service answers again before the load ends
            await running_again(processes, nc, settings.namespace, service)
        summary = await load.finish(timeout=120)
        conn = await checks.connect(settings)
        reports = await checks.until_reconciled(settings, timeout=QUIET_TIMEOUT)
        await asyncio.sleep(1.0)  # redeliveries still in flight must change nothing
        return Result(
            **await checks.final_checks(settings, nc, conn, summary, all(r.equal for r in reports)),
            minutes=minutes,
            parked=len(await DeadLetters(nc.jetstream(), settings).parked()),
            injected=chaos.injected,
        )
    finally:
        if conn is not None:
            await conn.close()
        if nc is not None:
            await nc.close()
        checks.stop_everything(load, [processes], nats_servers, postgres)


# Runs this long keep a section of their own: the test suite's 3-minute soak must not overwrite them.
LONG_SOAK_MINUTES = 30.0


def section_of(minutes: float) -> tuple[str, str]:
    """The docs/reliability.md section (name, title) a soak of ``minutes`` writes."""
    if minutes >= LONG_SOAK_MINUTES:
        return (
            "soak-long",
            f"Long chaos soak ({LONG_SOAK_MINUTES:g} min or more): overlapping faults under steady load",
        )
    return "soak", "Chaos soak: overlapping faults under steady load"


def write_figures(result: Result, seed: int, rate: float) -> None:
    write_section(
        *section_of(result.minutes),
        f"./salesops soak --minutes {result.minutes:g} --seed {seed} (python -m deploy.ops.soak)",
        [
            f"Steady load from a separate process ({rate:g} commands/s offered, each with an idempotency "
            f"key) for {result.minutes:g} min while a fault started every {FAULT_GAP_SECONDS[0]:g}–"
            f"{FAULT_GAP_SECONDS[1]:g} s at random, overlapping the ones still running: kill -9 of a "
            "service (its relay with it) or of a relay alone, a relay's connection to NATS cut (`ss -K`), "
            "every PostgreSQL session of the database terminated, kill -9 of the soak's own PostgreSQL "
            "server (restarted after a moment), kill -9 of one node of the 3-node JetStream cluster "
            "(streams with 3 replicas; restarted after a moment), reporting stopped for a few seconds (a "
            "slow consumer). Then the faults stopped and the system was left to catch up.",
            "",
            f"Result: {result.line()}",
            "",
            *table(
                [
                    *result.commands_table(),
                    *sorted(result.injected.items()),
                ]
            ),
            "",
            *result.figures_table(),
            "Lost = stored events missing from reporting's log plus acknowledged commands not stored; "
            "double-counted = messages or applications beyond the stored events plus refused commands "
            "stored.",
            "",
        ],
    )


def parser() -> argparse.ArgumentParser:
    p = checks.drill_parser("soak", "The chaos soak (docs/operations.md).", rate=20.0)
    p.add_argument("--minutes", type=float, default=5.0, help="how long the faults run")
    p.add_argument(
        "--seed", type=int, default=None, help="the faults' random seed (printed; default: random)"
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    workdir = checks.drill_workdir("soak")
    print(f"soak: {args.minutes:g} min, seed {seed}, service logs in {workdir}", file=sys.stderr)
    result = asyncio.run(soak(args.minutes, args.rate, random.Random(seed), workdir))
    if not args.no_doc:
        write_figures(result, seed, args.rate)
    return checks.finish(result, workdir)


if __name__ == "__main__":
    sys.exit(main())
