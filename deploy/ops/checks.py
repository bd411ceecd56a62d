"""The checks of the fault tests and the drills (``deploy.ops.soak``, ``restore_drill``, ``upgrade_drill``):
the services' processes, the load process, the figures every run checks (stored vs on the stream vs
consumed by reporting, per service, and what became of each command the load sent), and what every drill
does alike: its settings, start, command line, verdict (``Checked``), ending and its test's run."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import asyncpg
from nats.aio.client import Client as NATS

from deploy.local.processes import SERVICES, ServiceProcesses, wait_ready
from deploy.nats.servers import NatsServers
from deploy.ops.pgcluster import LocalPostgres
from deploy.ops.reconcile import WRITE_SERVICES, ServiceReport, reconcile
from services.reporting.projections import ensure_schema, init_connection
from services.reporting.rebuild import verify
from shared.identity.tokens import ensure_signing_key, public_pem
from shared.outbox import RECEIPT_TOPIC
from shared.retry import poll
from shared.runtime import RELAY_ARGUMENT
from shared.settings import Settings
from shared.store import CommandReceipt
from shared.subjects import stream_name

ROOT = Path(__file__).resolve().parents[2]


def process_env(settings: Settings) -> dict[str, str]:
    return {
        "SALESOPS_NAMESPACE": settings.namespace,
        "SALESOPS_POSTGRES_DB": settings.postgres_db,
        "SALESOPS_NATS_URL": settings.nats_url,
        "SALESOPS_POSTGRES_HOST": settings.postgres_host,
        "SALESOPS_POSTGRES_PORT": str(settings.postgres_port),
        "SALESOPS_STREAM_REPLICAS": str(settings.stream_replicas),
        "SALESOPS_CONSUMER_ACK_WAIT_SECONDS": "3",  # what a killed consumer held comes back soon
        "SALESOPS_CONSUMER_BATCH_SIZE": "50",
        "SALESOPS_REPORTING_HTTP": "false",
        "SALESOPS_LOG_FORMAT": "text",
        # The PostgreSQL server is shared with the rest of the suite: keep each store's idle pool small.
        "POSTGRES_POOL_SIZE": "2",
        "POSTGRES_MAX_OVERFLOW": "6",
    }


async def quietly(error: Exception) -> None:
    """A NATS client's error callback for the drills: their own connection sees the nodes they kill go."""


def drill_settings(name: str, postgres_port: int, nats_url: str, **options: Any) -> Settings:
    """A drill's own database and namespace, on the servers it runs."""
    token = uuid.uuid4().hex[:10]
    return Settings(
        namespace=f"{name}{token}",
        postgres_db=f"salesops_{name}_{token}",
        postgres_port=postgres_port,
        nats_url=nats_url,
        **options,
    )


async def start_services(
    processes: ServiceProcesses, nc: NATS, namespace: str, timeout: float = 120.0
) -> None:
    """Every service started, then until each answers."""
    for service in SERVICES:
        processes.start(service)
    for service in SERVICES:
        await wait_ready(nc, namespace, service, timeout=timeout)


def stop_everything(
    load: LoadProcess | None,
    processes: Sequence[ServiceProcesses],
    nats_servers: NatsServers,
    postgres: LocalPostgres,
) -> None:
    """A drill's end, whatever happened: its load and services stopped, then its own servers (PostgreSQL at
    once: its data is the drill's own)."""
    if load is not None:
        load.kill()
    for group in processes:
        group.stop_all()
    nats_servers.stop()
    if postgres.running():
        postgres.stop("immediate")


def drill_parser(module: str, description: str, rate: float) -> argparse.ArgumentParser:
    """A drill's command line: how long it runs is the drill's own option; the offered load and
    ``--no-doc`` are every drill's."""
    p = argparse.ArgumentParser(prog=f"python -m deploy.ops.{module}", description=description)
    p.add_argument("--rate", type=float, default=rate, help="commands a second the load offers")
    p.add_argument("--no-doc", action="store_true", help="do not write docs/reliability.md")
    return p


def drill_workdir(name: str) -> Path:
    """A drill's working directory (its clusters' data, its services' logs), with its own token issuer."""
    workdir = Path(tempfile.mkdtemp(prefix=f"salesops-{name}-"))
    workdir.chmod(0o755)  # PostgreSQL's user enters it
    own_token_issuer(workdir)
    return workdir


class Verdict(Protocol):
    @property
    def passed(self) -> bool: ...

    def line(self) -> str: ...


def finish(result: Verdict, workdir: Path) -> int:
    """A drill's last line and exit status; its logs are kept where a check failed."""
    if result.passed:
        shutil.rmtree(workdir, ignore_errors=True)
    print(result.line())
    return 0 if result.passed else 1


def run_drill(module: str, *args: str, timeout: float) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """``python -m deploy.ops.<module> ARGS`` as its test runs it: the finished process, its output lines."""
    result = subprocess.run(
        [sys.executable, "-m", f"deploy.ops.{module}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return result, result.stdout.strip().splitlines()


class DrillFailed(RuntimeError):
    """A drill, or the load it runs, did not end as it must (raised, not asserted: ``-O`` strips asserts)."""


def passed_drill(module: str, *args: str, timeout: float) -> str:
    """The last line of a drill that passed (exit 0, nothing lost or counted twice), for its test."""
    result, lines = run_drill(module, *args, timeout=timeout)
    if result.returncode != 0:
        raise DrillFailed(f"{module} exited {result.returncode}:\n{result.stdout}{result.stderr[-3000:]}")
    if not (lines and lines[-1].endswith("lost 0, double-counted 0")):
        raise DrillFailed(f"{module} did not end with 'lost 0, double-counted 0':\n{result.stdout}")
    return lines[-1]


def own_token_issuer(workdir: Path) -> None:
    """A token issuer of the run's own (unless one is configured): its services verify with the public key,
    its load signs with the key in ``workdir``."""
    if "SALESOPS_IDENTITY_PUBLIC_KEY" not in os.environ:
        key_file = workdir / "signing.pem"
        os.environ["SALESOPS_IDENTITY_PUBLIC_KEY"] = public_pem(ensure_signing_key(key_file))
        os.environ["SALESOPS_IDENTITY_SIGNING_KEY_FILE"] = str(key_file)


class LoadProcess:
    """``python -m deploy.local.load`` in its own process; ``finish()`` stops it and returns its summary."""

    def __init__(self, settings: Settings, workdir: Path, *, commands: int, seconds: float, **options: Any):
        self.out = workdir / f"load-{os.getpid()}-{id(self)}.json"
        self.stop_file = workdir / f"load-stop-{id(self)}"
        args = ["--out", str(self.out), "--commands", str(commands), "--seconds", str(seconds)]
        args += ["--stop-file", str(self.stop_file)]
        for name, value in options.items():
            args += [f"--{name.replace('_', '-')}", str(value)]
        self.log = (workdir / "load.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "deploy.local.load", *args],
            cwd=ROOT,
            env={**os.environ, **process_env(settings)},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def sent_so_far(self) -> bool:
        return self.process.poll() is None

    async def finish(self, timeout: float = 60.0) -> dict[str, Any]:
        self.stop_file.touch()
        await asyncio.to_thread(self.process.wait, timeout)
        self.log.close()
        if self.process.returncode != 0:
            raise DrillFailed(f"load process failed (exit {self.process.returncode}), see {self.log.name}")
        summary: dict[str, Any] = json.loads(self.out.read_text())
        return summary

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.log.close()


@dataclass
class Figures:
    service: str
    stored: int
    on_stream: int
    consumed: int
    applied: int  # reporting's count of applications (an event applied twice would count twice)
    duplicates: int
    lost: int

    def row(self) -> str:
        return (
            f"| {self.service} | {self.stored} | {self.on_stream} | {self.consumed} | {self.duplicates} | "
            f"{self.lost} |"
        )


FIGURES_HEADER = [
    "| service | events stored | messages on the stream | consumed by reporting | duplicates | lost |",
    "|---|---|---|---|---|---|",
]


@dataclass
class Checked:
    """What every drill proves at its end, whatever it did before: each acknowledged command stored and no
    refused one, every stored event in reporting exactly once, projections equal to a rebuild."""

    summary: dict[str, Any]
    outcomes: dict[str, int]
    rows: list[Figures]
    reconciled: bool
    rebuild_equal: bool

    @property
    def lost(self) -> int:
        return sum(r.lost for r in self.rows) + self.outcomes.get(ACKNOWLEDGED_NOT_STORED, 0)

    @property
    def double_counted(self) -> int:
        return sum(r.duplicates for r in self.rows) + self.outcomes.get(REFUSED_BUT_STORED, 0)

    @property
    def passed(self) -> bool:
        return self.lost == 0 and self.double_counted == 0 and self.reconciled and self.rebuild_equal

    def agreement(self) -> str:
        reconciled = "equal" if self.reconciled else "UNEQUAL"
        rebuild = "equal" if self.rebuild_equal else "UNEQUAL"
        return f"reconciliation {reconciled}, projections {rebuild} to a rebuild"

    def tally(self) -> str:
        """How a drill's line ends."""
        return f"lost {self.lost}, double-counted {self.double_counted}"

    def commands_table(self) -> list[tuple[str, Any]]:
        return [("commands sent", self.summary["sent"]), *sorted(self.outcomes.items())]

    def figures_table(self) -> list[str]:
        return [*FIGURES_HEADER, *(row.row() for row in self.rows), ""]


async def final_checks(
    settings: Settings, nc: NATS, conn: asyncpg.Connection, summary: dict[str, Any], reconciled: bool
) -> dict[str, Any]:
    """The fields of ``Checked`` (a drill's result extends it) for the load's summary, read now."""
    checked = Checked(
        summary=summary,
        outcomes=command_outcomes(summary, await stored_keys(conn, summary)),
        rows=await figures(settings, nc, conn),
        reconciled=reconciled,
        rebuild_equal=await live_equals_rebuild(conn, settings),
    )
    return vars(checked)


async def until_reconciled(settings: Settings, timeout: float = 90.0) -> list[ServiceReport]:
    """Wait until reporting holds exactly what each store holds (the reconcile check, no repair)."""
    return await poll(
        lambda: reconcile(settings), lambda reports: all(r.equal for r in reports), timeout=timeout, every=1.0
    )


async def figures(settings: Settings, nc: NATS, conn: asyncpg.Connection) -> list[Figures]:
    js = nc.jetstream()
    rows = []
    if await conn.fetchval("SELECT to_regclass('reporting.event_log')") is None:
        await ensure_schema(conn)  # reporting has not started yet: nothing consumed
    for service in WRITE_SERVICES:
        stored = await conn.fetchval(
            f'SELECT count(*) FROM "{service}".{await events_table(conn, service)} WHERE topic <> $1',
            RECEIPT_TOPIC,
        )
        on_stream = (await js.stream_info(stream_name(settings.namespace, service))).state.messages
        consumed = await conn.fetchval("SELECT count(*) FROM reporting.event_log WHERE service = $1", service)
        applied = await conn.fetchval(
            "SELECT coalesce(sum(events), 0) FROM reporting.source_position WHERE service = $1", service
        )
        missing = await conn.fetchval(
            f'SELECT count(*) FROM "{service}".{await events_table(conn, service)} s WHERE s.topic <> $1 '
            "AND NOT EXISTS (SELECT 1 FROM reporting.event_log l WHERE l.service = $2 "
            "AND l.position = s.notification_id)",
            RECEIPT_TOPIC,
            service,
        )
        rows.append(
            Figures(
                service,
                stored,
                on_stream,
                consumed,
                applied,
                duplicates=max(0, on_stream - stored) + max(0, applied - consumed),
                lost=missing,
            )
        )
    return rows


async def events_table(conn: asyncpg.Connection, service: str) -> str:
    """The service's eventsourcing table (``<Service>Application`` → ``<service>application_events``)."""
    return f'"{service}application_events"'


async def receipts(conn: asyncpg.Connection, service: str, keys: list[str]) -> set[str]:
    """Which of these idempotency keys have a stored command receipt (= the command took effect)."""
    ids = {str(CommandReceipt.create_id(f"{service}:{key}")): key for key in keys}
    rows = await conn.fetch(
        f'SELECT originator_id::text AS id FROM "{service}".{await events_table(conn, service)} '
        "WHERE originator_id::text = ANY($1::text[])",
        list(ids),
    )
    return {ids[r["id"]] for r in rows}


ACKNOWLEDGED_NOT_STORED = "acknowledged, not stored"
REFUSED_BUT_STORED = "refused, stored"


def command_outcomes(summary: dict[str, Any], stored_keys: dict[str, set[str]]) -> dict[str, int]:
    """What became of each command of a load summary. An acknowledged command must be stored and a refused
    one must not (``ACKNOWLEDGED_NOT_STORED`` / ``REFUSED_BUT_STORED`` count the breaches); one without an
    answer may be either."""
    counts: Counter[str] = Counter()
    for c in summary["commands"]:
        stored = c["key"] in stored_keys[c["service"]]
        if c["outcome"] == "ok":
            counts["acknowledged and stored" if stored else ACKNOWLEDGED_NOT_STORED] += 1
        elif c["outcome"] in ("timeout", "no_responders"):
            counts["unanswered, stored" if stored else "unanswered, not stored"] += 1
        else:
            counts[REFUSED_BUT_STORED if stored else f"refused ({c['outcome']}), not stored"] += 1
    return dict(sorted(counts.items()))


async def stored_keys(conn: asyncpg.Connection, summary: dict[str, Any]) -> dict[str, set[str]]:
    """Per service, the idempotency keys of the summary's commands that took effect."""
    keys: dict[str, list[str]] = {}
    for c in summary["commands"]:
        keys.setdefault(c["service"], []).append(c["key"])
    return {s: await receipts(conn, s, k) for s, k in keys.items()}


def alive(pid: int) -> bool:
    """Running (a zombie nobody has reaped yet counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def relay_children(parent: int) -> list[int]:
    """The pids of ``parent``'s relay processes."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                arguments = cmdline.read().split(b"\0")
        except (FileNotFoundError, ProcessLookupError):
            continue
        if ppid == parent and RELAY_ARGUMENT.encode() in arguments and alive(int(entry)):
            found.append(int(entry))
    return found


async def connect(settings: Settings) -> asyncpg.Connection:
    """A connection as reporting's own (jsonb decoded), so the rebuild check can use it."""
    conn = await asyncpg.connect(settings.postgres_dsn)
    await init_connection(conn)
    return conn


async def live_equals_rebuild(conn: asyncpg.Connection, settings: Settings) -> bool:
    stats = await verify(conn, settings.period_mode)
    return stats.equal


@dataclass
class PostgresControl:
    """Stops and starts the PostgreSQL server the tests use, however this machine runs it: a Debian
    cluster (``pg_ctlcluster``) or a plain data directory (``pg_ctl`` as the postgres user, started again
    with the options it was started with, from ``postmaster.opts``)."""

    stop_cmd: list[str]
    start_cmd: list[str]
    how: str

    @classmethod
    async def detect(cls, conn: asyncpg.Connection) -> PostgresControl | None:
        """None when the server is not one this machine can restart (remote, or not root here)."""
        address = getattr(conn, "_addr", ("", 0))  # asyncpg keeps the server address privately only
        if os.geteuid() != 0 or address[0] not in ("127.0.0.1", "localhost", "::1"):
            return None
        config = str(await conn.fetchval("SHOW config_file"))
        data = str(await conn.fetchval("SHOW data_directory"))
        parts = config.split("/")
        if config.startswith("/etc/postgresql/") and len(parts) >= 5 and shutil.which("pg_ctlcluster"):
            version, name = parts[3], parts[4]
            base = ["pg_ctlcluster", "--skip-systemctl-redirect", version, name]
            return cls([*base, "stop", "-m", "fast"], [*base, "start"], f"pg_ctlcluster {version} {name}")
        bindir = str(await conn.fetchval("SELECT setting FROM pg_config WHERE name = 'BINDIR'"))
        opts = Path(data, "postmaster.opts").read_text().strip()
        args = shlex.split(opts)[1:]  # the server binary, then its options
        if "-D" in args:
            i = args.index("-D")
            del args[i : i + 2]
        pg_ctl = f"{bindir}/pg_ctl"
        quoted = shlex.quote(data)
        start = f"{pg_ctl} -D {quoted} -l {quoted}/server.log -w -o {shlex.quote(shlex.join(args))} start"
        return cls(
            ["su", "postgres", "-c", f"{pg_ctl} -D {shlex.quote(data)} -m fast -w stop"],
            ["su", "postgres", "-c", start],
            f"pg_ctl -D {data}",
        )

    def stop(self) -> None:
        subprocess.run(self.stop_cmd, check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        subprocess.run(self.start_cmd, check=True, capture_output=True, timeout=60)
