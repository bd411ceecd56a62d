"""The rolling-upgrade drill: the previous and the current release of customers side by side under load.

``python -m deploy.ops.upgrade_drill [--previous COMMIT] [--seconds S] [--rate R] [--no-doc]`` runs a
PostgreSQL cluster and a nats-server of its own, the current release of every service except customers,
and customers from the previous release: the source tree of ``COMMIT`` (``git archive``, the commit
before ``CustomerRegistered`` version 2 unless given; the same virtual environment, the commit's own
code). A steady load runs throughout. A third of the way in, the current
release of customers joins the same queue group; two thirds of the way in, the previous one is stopped
(SIGTERM), as a rolling upgrade does. Both write the same store: the previous release ``CustomerRegistered``
version 1, the current one version 2 (``lead_source``).

Checks: every command answered and acknowledged (none refused, none unanswered) and stored; every stored
event on its stream and in reporting once; both releases stored registrations and both schema versions
reached reporting; the orders and field customer views hold every registered customer; reporting equals
its rebuild and reconciliation is equal. Figures: docs/reliability.md, section ``upgrade``.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import nats

from deploy.local.processes import SERVICES, ServiceProcesses, wait_ready
from deploy.nats.servers import NatsServers
from deploy.ops import checks
from deploy.ops.pgcluster import LocalPostgres
from deploy.ops.reliability_doc import table, write_section
from shared.bus import nats_options
from shared.database import ensure_database

UPGRADED = "customers"
EVENT = "CustomerRegistered"
EVENT_TOPIC = "customers.Customer.CustomerRegistered"
# Marks the change the drill is about: the previous release is the commit before it.
CHANGE_MARKER = "class CustomerRegistered("
CHANGED_FILE = "services/customers/domain/customer.py"
VIEWS = ("orders", "field")  # the services with a view of customers fed from the customers stream


def previous_release() -> str:
    """The commit before the one that gave ``CustomerRegistered`` its version 2."""
    introduced = subprocess.run(
        ["git", "log", "--format=%H", "-S", CHANGE_MARKER, "--", CHANGED_FILE],
        cwd=checks.ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    if not introduced:
        raise SystemExit(f"no commit introduced {CHANGE_MARKER!r} in {CHANGED_FILE}: give --previous")
    return f"{introduced[-1]}^"


def source_tree(commit: str, target: Path) -> str:
    """The commit's files in ``target`` (no git metadata: nothing for the lead's merge to see); its hash."""
    resolved = subprocess.run(
        ["git", "rev-parse", "--verify", f"{commit}^{{commit}}"],
        cwd=checks.ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    target.mkdir(parents=True)
    archive = subprocess.Popen(["git", "archive", resolved], cwd=checks.ROOT, stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(target)], stdin=archive.stdout, check=True)
    if archive.wait() != 0:
        raise RuntimeError(f"git archive {resolved} failed")
    return resolved


@dataclass
class DrillResult(checks.Checked):
    previous: str
    registrations: Registrations
    overlap_seconds: float  # both releases in the queue group
    seconds: float  # load start → stop

    @property
    def not_acknowledged(self) -> int:
        """Commands refused or unanswered: a rolling upgrade must not show clients any."""
        return sum(1 for c in self.summary["commands"] if c["outcome"] != "ok")

    @property
    def both_versions(self) -> bool:
        """Each release stored registrations, both versions reached reporting, none under an older one."""
        r = self.registrations
        return r.downgraded == 0 and all(r.stored.get(v, 0) > 0 and r.consumed.get(v, 0) > 0 for v in (1, 2))

    @property
    def views_complete(self) -> bool:
        registered = sum(self.registrations.stored.values())
        return all(count == registered for count in self.registrations.in_views.values())

    @property
    def passed(self) -> bool:
        return super().passed and self.not_acknowledged == 0 and self.both_versions and self.views_complete

    def line(self) -> str:
        r = self.registrations
        versions = ", ".join(f"v{v} {n}" for v, n in sorted(r.consumed.items()))
        return (
            f"upgrade drill: {self.summary['sent']} commands, {self.not_acknowledged} refused or unanswered; "
            f"{EVENT} stored v1 {r.stored.get(1, 0)}, v2 {r.stored.get(2, 0)}, "
            f"in reporting {versions or 'none'}, {r.downgraded} under an older version; customer views "
            f"{'complete' if self.views_complete else 'SHORT'}, {self.agreement()}; {self.tally()}"
        )


STORED_VERSION = "coalesce((convert_from(s.state, 'UTF8')::jsonb ->> 'class_version')::int, 1)"


@dataclass
class Registrations:
    stored: dict[int, int]  # CustomerRegistered in the store, by the class version stored
    consumed: dict[int, int]  # in reporting's log, by schema_version
    downgraded: int  # reached reporting under an older version than stored (its newer fields unannounced)
    in_views: dict[str, int]  # customers in each service's customer view


async def registrations(conn: asyncpg.Connection) -> Registrations:
    table_name = await checks.events_table(conn, UPGRADED)
    stored = await conn.fetch(
        f'SELECT {STORED_VERSION} AS v, count(*) FROM "{UPGRADED}".{table_name} s '
        "WHERE topic = $1 GROUP BY 1",
        EVENT_TOPIC,
    )
    consumed = await conn.fetch(
        "SELECT schema_version AS v, count(*) FROM reporting.event_log "
        "WHERE service = $1 AND event_type = $2 GROUP BY 1",
        UPGRADED,
        EVENT,
    )
    downgraded = await conn.fetchval(
        f'SELECT count(*) FROM "{UPGRADED}".{table_name} s JOIN reporting.event_log l '
        "ON l.service = $1 AND l.position = s.notification_id "
        f"WHERE s.topic = $2 AND l.schema_version < {STORED_VERSION}",
        UPGRADED,
        EVENT_TOPIC,
    )
    return Registrations(
        stored={r["v"]: r["count"] for r in stored},
        consumed={r["v"]: r["count"] for r in consumed},
        downgraded=downgraded,
        in_views={v: await conn.fetchval(f'SELECT count(*) FROM "{v}".customer_view') for v in VIEWS},
    )


async def drill(workdir: Path, previous: str, seconds: float, rate: float) -> DrillResult:
    resolved = source_tree(previous, workdir / "previous")
    postgres = LocalPostgres(workdir / "pg" / "data")  # its own: no other test's restart reaches it
    servers = NatsServers(workdir / "nats")
    settings = checks.drill_settings("upgrade", postgres.port, servers.urls)
    env = checks.process_env(settings)
    current = ServiceProcesses(env, workdir / "logs")
    old = ServiceProcesses(env, workdir / "logs-previous", root=workdir / "previous")
    load: checks.LoadProcess | None = None
    postgres.init()
    postgres.start()
    servers.start()
    nc = None
    try:
        servers.wait_ready()
        ensure_database(settings, list(SERVICES))
        nc = await nats.connect(name="upgrade-drill", error_cb=checks.quietly, **nats_options(settings))
        old.start(UPGRADED)  # first: its relay publishes while it runs
        await wait_ready(nc, settings.namespace, UPGRADED, timeout=120)
        for service in SERVICES:
            if service != UPGRADED:
                current.start(service)
        for service in SERVICES:
            await wait_ready(nc, settings.namespace, service, timeout=120)

        started = time.monotonic()
        load = checks.LoadProcess(
            settings, workdir, commands=int(rate * seconds) + 1, seconds=seconds + 30, rate=rate
        )
        await asyncio.sleep(seconds / 3)
        current.start(UPGRADED)  # joins the queue group beside the previous release
        joined = time.monotonic()
        await asyncio.sleep(max(0.0, started + 2 * seconds / 3 - time.monotonic()))
        await asyncio.to_thread(old.stop, UPGRADED)  # taken out cleanly: its in-flight commands finish
        overlap = time.monotonic() - joined
        await asyncio.sleep(max(0.0, started + seconds - time.monotonic()))
        summary = await load.finish(timeout=60)
        elapsed = time.monotonic() - started

        reports = await checks.until_reconciled(settings, timeout=120)
        conn = await checks.connect(settings)
        try:
            return DrillResult(
                **await checks.final_checks(settings, nc, conn, summary, all(r.equal for r in reports)),
                previous=resolved,
                registrations=await registrations(conn),
                overlap_seconds=overlap,
                seconds=elapsed,
            )
        finally:
            await conn.close()
    finally:
        if nc is not None:
            await nc.close()
        checks.stop_everything(load, [old, current], servers, postgres)


def write_figures(result: DrillResult, seconds: float, rate: float) -> None:
    commands = Counter(c["service"] for c in result.summary["commands"])
    write_section(
        "upgrade",
        "Rolling upgrade: two releases of customers in one queue group",
        f"python -m deploy.ops.upgrade_drill --seconds {seconds:g} (tests/fault/test_upgrade_drill.py)",
        [
            f"The previous release of customers (commit `{result.previous[:10]}`, before `{EVENT}` version 2 "
            "added `lead_source`) and the current release in one queue group, on one store, under "
            f"{rate:g} commands/s for {seconds:g} s: the current one joins a third of the way in, the "
            "previous one is stopped (SIGTERM) two thirds of the way in. The other services run the "
            "current release throughout.",
            "",
            f"Result: {result.line()}",
            "",
            *table(
                [
                    *result.commands_table(),
                    ("of them to customers", commands.get(UPGRADED, 0)),
                    ("refused or unanswered", result.not_acknowledged),
                    ("both releases in the queue group, s", f"{result.overlap_seconds:.1f}"),
                    (
                        f"{EVENT} stored as version 1 (previous release)",
                        result.registrations.stored.get(1, 0),
                    ),
                    (f"{EVENT} stored as version 2 (current release)", result.registrations.stored.get(2, 0)),
                    *(
                        (f"{EVENT} in reporting with schema_version {v}", n)
                        for v, n in sorted(result.registrations.consumed.items())
                    ),
                    (
                        f"{EVENT} in reporting under an older version than stored",
                        result.registrations.downgraded,
                    ),
                    *(
                        (f"customers in the {v} customer view", n)
                        for v, n in result.registrations.in_views.items()
                    ),
                ]
            ),
            "",
            *result.figures_table(),
        ],
    )


def parser() -> argparse.ArgumentParser:
    p = checks.drill_parser("upgrade_drill", __doc__.split("\n\n")[0], rate=10.0)
    p.add_argument(
        "--previous", help="the previous release's commit (default: the one before CustomerRegistered v2)"
    )
    p.add_argument("--seconds", type=float, default=30.0, help="how long the load runs")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    workdir = checks.drill_workdir("upgrade")
    previous = args.previous or previous_release()
    print(f"upgrade drill: previous release {previous}, logs in {workdir}", file=sys.stderr)
    result = asyncio.run(drill(workdir, previous, args.seconds, args.rate))
    if not args.no_doc:
        write_figures(result, args.seconds, args.rate)
    return checks.finish(result, workdir)


if __name__ == "__main__":
    sys.exit(main())
