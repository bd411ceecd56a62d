"""The backup and restore drill: load, a base backup under load, every data directory lost, a restore.

``python -m deploy.ops.restore_drill [--seconds S] [--rate R] [--no-doc]`` runs, in a directory of its own,
a PostgreSQL cluster of its own (``deploy.ops.pgcluster``, never the machine's shared server) archived
continuously (``deploy.ops.backup``: ``pg_receivewal --synchronous``), a nats-server of its own and the
five services, and sends a steady load. Half-way it takes a base backup; at the end the disaster: every
service, PostgreSQL, the archive's receiver and nats-server killed (kill -9), the data directories of
PostgreSQL and JetStream deleted. Then the procedure of docs/operations.md: restore the base backup,
replay the WAL archive, start the server, start archiving again, start nats-server empty, reset the
relays' positions (``republish``), start the services. It waits until every stored event is on its
stream again and reporting holds exactly what the stores hold, then checks that every command
acknowledged before the wipe is stored (RPO), that nothing is counted twice and that the projections
equal a rebuild, and measures the time from the wipe to that point (RTO). Figures: docs/reliability.md,
section ``restore``.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import nats
from nats.aio.client import Client as NATS

from deploy.local.processes import SERVICES, ServiceProcesses
from deploy.nats.servers import NatsServers
from deploy.ops import checks
from deploy.ops.backup import ARCHIVE_SERVER_SETTINGS, WalArchive, republish, restore, take
from deploy.ops.pgcluster import LocalPostgres
from deploy.ops.reconcile import WRITE_SERVICES, reconcile
from deploy.ops.reliability_doc import table, write_section
from shared.bus import nats_options
from shared.database import ensure_database
from shared.outbox import RECEIPT_TOPIC
from shared.settings import Settings

RECOVERY_TIMEOUT = 300.0


@dataclass
class DrillResult(checks.Checked):
    republished: list[str]
    events_at_backup: int  # stored when the base backup ended
    events_at_wipe: int  # stored when the disaster struck (read from the restored server)
    backup_seconds: float
    postgres_seconds: float  # wipe → the restored server open for writes
    rto_seconds: float  # wipe → every stream and reporting complete again

    @property
    def rpo_commands(self) -> int:
        return self.outcomes.get(checks.ACKNOWLEDGED_NOT_STORED, 0)

    @property
    def refilled(self) -> bool:
        """Every stored event on its stream again (the relays published them all)."""
        return all(r.on_stream >= r.stored for r in self.rows)

    @property
    def passed(self) -> bool:
        return super().passed and self.refilled

    def line(self) -> str:
        return (
            f"restore drill: {self.summary['ok']} commands acknowledged before the wipe, "
            f"{self.events_at_wipe - self.events_at_backup} events replayed from the WAL archive; "
            f"RPO {self.rpo_commands} acknowledged commands missing, RTO {self.rto_seconds:.1f} s "
            f"(PostgreSQL {self.postgres_seconds:.1f} s); "
            f"streams {'refilled' if self.refilled else 'SHORT'}, {self.agreement()}; {self.tally()}"
        )


async def stored_events(settings: Settings) -> int:
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        total = 0
        for service in WRITE_SERVICES:
            table_name = await checks.events_table(conn, service)
            total += await conn.fetchval(
                f'SELECT count(*) FROM "{service}".{table_name} WHERE topic <> $1', RECEIPT_TOPIC
            )
        return total
    finally:
        await conn.close()


async def until_complete(settings: Settings, nc: NATS, conn: asyncpg.Connection, timeout: float) -> bool:
    """Until every stored event is on its stream again and reporting holds what the stores hold: whether
    reconciliation came out equal."""
    deadline = time.monotonic() + timeout
    while True:
        reconciled = all(r.equal for r in await reconcile(settings))
        rows = await checks.figures(settings, nc, conn)
        if (reconciled and all(r.on_stream >= r.stored for r in rows)) or time.monotonic() > deadline:
            return reconciled
        await asyncio.sleep(1.0)


async def start_all(processes: ServiceProcesses, settings: Settings) -> None:
    """The services started on servers just (re)started: a connection of its own for the wait."""
    nc = await nats.connect(name="restore-drill", error_cb=checks.quietly, **nats_options(settings))
    try:
        await checks.start_services(processes, nc, settings.namespace)
    finally:
        await nc.close()


async def open_for_writes(settings: Settings, timeout: float = RECOVERY_TIMEOUT) -> None:
    """Until the restored server has replayed the archive and left recovery."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn = await asyncpg.connect(settings.postgres_dsn)
            try:
                if not await conn.fetchval("SELECT pg_is_in_recovery()"):
                    return
            finally:
                await conn.close()
        except (OSError, asyncpg.PostgresError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"the restored server did not open in {timeout:.0f}s")
        await asyncio.sleep(0.2)


async def drill(workdir: Path, seconds: float, rate: float) -> DrillResult:
    backups = workdir / "backup"
    server = LocalPostgres(workdir / "pg" / "data", settings=ARCHIVE_SERVER_SETTINGS)
    servers = NatsServers(workdir / "nats")
    settings = checks.drill_settings("drill", server.port, servers.urls)
    archives = [WalArchive(settings, backups / "wal")]
    processes = ServiceProcesses(checks.process_env(settings), workdir / "logs")
    load: checks.LoadProcess | None = None
    server.init()
    server.start()
    try:
        archives[0].start()
        ensure_database(settings, list(SERVICES))
        servers.start()
        servers.wait_ready()
        await start_all(processes, settings)
        load = checks.LoadProcess(
            settings, workdir, commands=int(rate * seconds * 2) + 1, seconds=seconds * 2, rate=rate
        )
        await asyncio.sleep(seconds / 2)
        started = time.monotonic()
        base = await asyncio.to_thread(take, settings, backups)
        backup_seconds = time.monotonic() - started
        events_at_backup = await stored_events(settings)
        await asyncio.sleep(seconds / 2)

        # The disaster: everything killed at once, then the data directories gone.
        for service in SERVICES:
            processes.kill(service)
        server.kill()
        archives[0].kill()
        summary = await load.finish(timeout=60)  # its commands unanswered now; it drains through NATS
        servers.kill(0)
        server.wipe()
        shutil.rmtree(servers.nodes[0].store_dir, ignore_errors=True)
        wiped = time.monotonic()

        # The procedure of docs/operations.md, "Restore".
        restore(base, backups / "wal", server.data)
        server.start()
        archives.append(WalArchive(settings, backups / "wal-after-restore"))
        archives[1].start()  # commits wait for an archive (synchronous_standby_names)
        await open_for_writes(settings)
        postgres_seconds = time.monotonic() - wiped
        servers.start(0)
        servers.wait_ready()
        republished = await republish(settings)
        await start_all(processes, settings)
        nc = await nats.connect(name="restore-drill", error_cb=checks.quietly, **nats_options(settings))
        conn = await checks.connect(settings)
        try:
            reconciled = await until_complete(settings, nc, conn, RECOVERY_TIMEOUT)
            rto_seconds = time.monotonic() - wiped
            return DrillResult(
                **await checks.final_checks(settings, nc, conn, summary, reconciled),
                republished=republished,
                events_at_backup=events_at_backup,
                events_at_wipe=await stored_events(settings),
                backup_seconds=backup_seconds,
                postgres_seconds=postgres_seconds,
                rto_seconds=rto_seconds,
            )
        finally:
            await conn.close()
            await nc.close()
    finally:
        checks.stop_everything(load, [processes], servers, server)
        for archive in archives:
            archive.stop()


def write_figures(result: DrillResult, seconds: float, rate: float) -> None:
    write_section(
        "restore",
        "Backup and restore: every data directory lost under load",
        f"python -m deploy.ops.restore_drill --seconds {seconds:g} (tests/fault/test_restore_drill.py)",
        [
            "A PostgreSQL cluster of the drill's own, archived continuously by `pg_receivewal --synchronous` "
            f"(a commit is acknowledged once its WAL is in the archive), a nats-server and the five "
            f"services; {rate:g} commands/s for {seconds:g} s, an online base backup (`pg_basebackup`) "
            "half-way. Then kill -9 of every process and the PostgreSQL and JetStream data directories "
            "deleted; restored as docs/operations.md says (base backup, WAL replay, archive again, "
            "nats-server empty, relays' positions reset, services started).",
            "",
            f"Result: {result.line()}",
            "",
            *table(
                [
                    *result.commands_table(),
                    ("events stored at the end of the base backup", result.events_at_backup),
                    ("events stored at the wipe (all restored)", result.events_at_wipe),
                    ("base backup under load, s", f"{result.backup_seconds:.1f}"),
                    ("RPO: acknowledged commands missing after the restore", result.rpo_commands),
                    ("wipe → restored PostgreSQL open for writes, s", f"{result.postgres_seconds:.1f}"),
                    ("RTO: wipe → streams and reporting complete again, s", f"{result.rto_seconds:.1f}"),
                    ("relays that published everything again", ", ".join(result.republished) or "none"),
                ]
            ),
            "",
            *result.figures_table(),
        ],
    )


def parser() -> argparse.ArgumentParser:
    p = checks.drill_parser("restore_drill", __doc__.split("\n\n")[0], rate=20.0)
    p.add_argument("--seconds", type=float, default=20.0, help="how long the load runs before the wipe")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    workdir = checks.drill_workdir("restore")
    print(f"restore drill: logs in {workdir}", file=sys.stderr)
    result = asyncio.run(drill(workdir, args.seconds, args.rate))
    if not args.no_doc:
        write_figures(result, args.seconds, args.rate)
    return checks.finish(result, workdir)


if __name__ == "__main__":
    sys.exit(main())
