"""Backup and restore of the PostgreSQL server with PostgreSQL's own tools: a base backup plus a WAL archive.

``python -m deploy.ops.backup`` (the server from ``SALESOPS_POSTGRES_HOST`` / ``_PORT``, docs/operations.md,
"Backup and restore"):

- ``archive --wal DIR``: continuous archiving. ``pg_receivewal --synchronous`` streams the WAL into DIR
  through a replication slot and reports each flush at once; with the server's
  ``synchronous_standby_names`` naming it (``ARCHIVE_SERVER_SETTINGS``), a commit is acknowledged only once
  its WAL is on the archive's disk: a command acknowledged is in the archive (RPO 0). The price: while no
  archive is connected, commits wait.
- ``take --to DIR``: a base backup (``pg_basebackup``, plain format, its own WAL streamed with it) into a
  new ``base-<UTC time>`` directory under DIR, taken online under load.
- ``restore --base DIR --wal DIR --data DIR``: into an empty data directory, the base backup, then every
  WAL of the archive replayed (``restore_command``, to the archive's end, ``pg_receivewal``'s unfinished
  ``.partial`` segment included); start the server afterwards and it recovers, then opens.
- ``republish``: once JetStream has lost its streams too, sets each write service's outbox position back
  to 0 where its stream is empty, so its relay publishes every stored event again (reporting and the
  other consumers skip what they have already applied).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import nats
from nats.js.errors import NotFoundError

from deploy.local.processes import killed, stopped
from deploy.ops.pgcluster import bindir, own, pg, run_as_owner
from deploy.ops.reconcile import WRITE_SERVICES
from shared.bus import nats_options
from shared.settings import Settings
from shared.subjects import stream_name

ARCHIVE_NAME = "salesops_archive"  # the archive's replication slot and application name
# The server's side of continuous archiving with RPO 0 (postgresql.conf).
ARCHIVE_SERVER_SETTINGS = (
    "wal_level = replica",
    "max_wal_senders = 10",
    "max_replication_slots = 10",
    f"synchronous_standby_names = '{ARCHIVE_NAME}'",
)


def connection(settings: Settings) -> list[str]:
    return ["-h", settings.postgres_host, "-p", str(settings.postgres_port), "-U", settings.postgres_user]


class WalArchive:
    """``pg_receivewal`` writing the server's WAL into ``directory``, synchronously, as long as it runs."""

    def __init__(self, settings: Settings, directory: Path) -> None:
        self.settings = settings
        self.directory = own(directory)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> subprocess.Popen[bytes]:
        pg(
            "pg_receivewal",
            *connection(self.settings),
            "--slot",
            ARCHIVE_NAME,
            "--create-slot",
            "--if-not-exists",
        )
        dsn = (
            f"host={self.settings.postgres_host} port={self.settings.postgres_port} "
            f"user={self.settings.postgres_user} application_name={ARCHIVE_NAME}"
        )
        log = (self.directory.parent / f"{self.directory.name}.log").open("ab")
        self.process = subprocess.Popen(
            [
                str(bindir() / "pg_receivewal"),
                *("-d", dsn, "-D", str(self.directory), "--slot", ARCHIVE_NAME),
                *("--synchronous", "--no-password"),
            ],
            user=run_as_owner(),
            cwd="/tmp",
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        return self.process

    def stop(self) -> None:
        if self.process is not None:
            stopped(self.process, timeout=10)
        self.process = None

    def kill(self) -> None:
        if self.process is not None:
            killed(self.process)
            self.process = None


def take(settings: Settings, to: Path) -> Path:
    """An online base backup into ``to/base-<UTC time>``; returns its directory."""
    own(to)
    target = to / f"base-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%fZ')}"
    pg(
        "pg_basebackup",
        *connection(settings),
        "-D",
        str(target),
        "-X",
        "stream",
        "-c",
        "fast",
        "--no-password",
    )
    return target


def restore(base: Path, wal: Path, data: Path) -> None:
    """Lay the base backup into ``data`` (empty or absent) and set recovery to replay the whole archive."""
    if data.exists() and any(data.iterdir()):
        raise FileExistsError(f"{data} is not empty: restore only into an empty data directory")
    shutil.copytree(base, data, dirs_exist_ok=True)
    # pg_receivewal names the segment it was writing when it stopped ``.partial``; recovery asks for the
    # segment's own name. A copy under that name, the archive left as it was.
    for partial in wal.glob("*.partial"):
        complete = partial.with_suffix("")
        if not complete.exists():
            shutil.copy2(partial, complete)
    with (data / "postgresql.auto.conf").open("a") as conf:
        conf.write(
            "\n# deploy.ops.backup restore\n"
            f"restore_command = 'cp {wal}/%f %p'\n"
            "recovery_target_timeline = 'latest'\n"
        )
    (data / "recovery.signal").touch()
    own(data)
    own(wal)


async def republish(settings: Settings, services: Sequence[str] = WRITE_SERVICES) -> list[str]:
    """Outbox positions back to 0 for the services whose stream is empty or gone; returns those services.
    Run before the services start (a relay reads its position when it takes up)."""
    nc = await nats.connect(name="backup", **nats_options(settings))
    conn = await asyncpg.connect(settings.postgres_dsn)
    reset = []
    try:
        for service in services:
            try:
                messages = (
                    await nc.jetstream().stream_info(stream_name(settings.namespace, service))
                ).state.messages
            except NotFoundError:
                messages = 0
            if messages == 0 and await conn.fetchval(f"SELECT to_regclass('\"{service}\".outbox_position')"):
                await conn.execute(f'UPDATE "{service}".outbox_position SET position = 0')
                reset.append(service)
    finally:
        await conn.close()
        await nc.close()
    return reset


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m deploy.ops.backup", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("archive", help="stream the WAL into DIR until stopped").add_argument(
        "--wal", required=True
    )
    sub.add_parser("take", help="an online base backup under DIR").add_argument("--to", required=True)
    restoring = sub.add_parser(
        "restore", help="a base backup and the WAL archive into an empty data directory"
    )
    restoring.add_argument("--base", required=True, help="the base-<time> directory of a backup")
    restoring.add_argument("--wal", required=True, help="the WAL archive")
    restoring.add_argument("--data", required=True, help="the (empty) data directory to restore into")
    sub.add_parser("republish", help="relays publish everything again to empty streams")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = Settings()
    if args.command == "archive":
        archive = WalArchive(settings, Path(args.wal).resolve())
        process = archive.start()
        try:
            return process.wait()
        except KeyboardInterrupt:
            archive.stop()
            return 0
    if args.command == "take":
        print(take(settings, Path(args.to).resolve()))
    elif args.command == "restore":
        restore(Path(args.base).resolve(), Path(args.wal).resolve(), Path(args.data).resolve())
        print(f"restored into {args.data}: start the server; it replays the archive, then opens")
    else:
        print("outbox positions reset:", ", ".join(asyncio.run(republish(settings))) or "none")
    return 0


if __name__ == "__main__":
    sys.exit(main())
