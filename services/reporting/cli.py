"""Reporting operations: ``python -m services.reporting.cli <command>``.

- ``rebuild [--only NAME ...] [--from-position N]``: rebuild projections from the event log into fresh
  tables and swap them in when complete (R9); prints a progress bar and the events/s.
- ``verify [--only NAME ...]``: rebuild aside and compare with the live tables row for row
  (exit status 1 when they differ).
- ``audit AGGREGATE_ID [--own]``: the audit trail of a customer, order, hold or complaint (R10).
- ``report NAME --period P [--as-of T]``: any report as JSON (``NAME`` = a bus query name).
- ``import-history FILE --by USER``: import past sales from a CSV file as finance (R14), with a progress bar.
- ``sign-off PERIOD --by USER``: sign a closed period's report off as the sales manager (R1).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from services.reporting import history, signoff
from services.reporting import rebuild as r
from services.reporting.api import (
    Alerts,
    AnnualStatistics,
    AuditTrail,
    BranchMonthly,
    DistributorMonthly,
    KeyCustomers,
    MonthlyReview,
    Receivables,
    Regions,
    Reports,
    SignedReport,
    StaffReport,
)
from services.reporting.main import open_pool
from services.reporting.tables import PROJECTIONS
from shared.contracts import Actor, Role
from shared.errors import DomainError
from shared.settings import Settings

BAR = 30


class ProgressBar:
    def __init__(self, out: TextIO, label: str, unit: str = "events") -> None:
        self.out = out
        self.label = label
        self.unit = unit

    def __call__(self, done: int, total: int, seconds: float) -> None:
        share = done / total if total else 1.0
        filled = int(share * BAR)
        rate = done / seconds if seconds > 0 else 0.0
        self.out.write(
            f"\r{self.label} [{'#' * filled}{'.' * (BAR - filled)}] {share:6.1%} {done}/{total} {self.unit} "
            f"{rate:,.0f} {self.unit}/s"
        )
        self.out.flush()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m services.reporting.cli", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    rb = sub.add_parser("rebuild", help="rebuild projections from the event log and swap them in (R9)")
    rb.add_argument(
        "--only", nargs="+", choices=sorted(PROJECTIONS), help="projections to rebuild (default all)"
    )
    rb.add_argument(
        "--from-position",
        type=int,
        default=0,
        help="resume an interrupted rebuild from this event-log sequence (printed while it ran)",
    )
    vf = sub.add_parser("verify", help="check that a rebuild equals the live tables row for row (R9)")
    vf.add_argument("--only", nargs="+", choices=sorted(PROJECTIONS))
    au = sub.add_parser("audit", help="audit trail of a customer, order, hold or complaint (R10)")
    au.add_argument("aggregate_id")
    au.add_argument("--own", action="store_true", help="only the aggregate's own events")
    au.add_argument("--json", action="store_true", help="print JSON instead of a table")
    rp = sub.add_parser("report", help="print a report as JSON")
    rp.add_argument("name", choices=sorted(REPORTS))
    rp.add_argument("--period", help="YYYY-MM (R1)")
    rp.add_argument("--year", type=int, help="for annual_statistics")
    rp.add_argument("--customer-id")
    rp.add_argument("--as-of", type=datetime.fromisoformat, help="ISO 8601 moment with time zone")
    hi = sub.add_parser("import-history", help="import past sales from a CSV file (R14), as finance")
    hi.add_argument("file", type=Path)
    hi.add_argument("--by", required=True, help="the finance user importing it")
    so = sub.add_parser("sign-off", help="sign a closed period's report off (R1), as the sales manager")
    so.add_argument("period")
    so.add_argument("--by", required=True, help="the sales manager signing it")
    return p


REPORTS: dict[str, Any] = {
    "distributor_monthly": DistributorMonthly,
    "branch_monthly": BranchMonthly,
    "key_customers": KeyCustomers,
    "regions": Regions,
    "annual_statistics": AnnualStatistics,
    "staff": StaffReport,
    "monthly_review": MonthlyReview,
    "receivables": Receivables,
    "alerts": Alerts,
    "signed_report": SignedReport,
}


def print_trail(trail: dict[str, Any], out: TextIO) -> None:
    out.write(f"audit trail of {trail['aggregate_id']}: {len(trail['entries'])} events\n")
    for e in trail["entries"]:
        actor = f"{e['actor']['id']} ({e['actor']['role']})" if e["actor"] else "-"
        mark = " " if e["own"] else "~"
        why = f"  reason: {e['reason']}" if e["reason"] else ""
        out.write(
            f"{mark} {e['at']}  {e['service']}:{e['position']:<6} {e['aggregate_type']} v{e['version']:<3} "
            f"{e['event_type']:<22} by {actor}{why}\n"
        )


async def run(args: argparse.Namespace, settings: Settings, out: TextIO = sys.stdout) -> int:
    pool = await open_pool(settings, max_size=2)
    try:
        reports = Reports(pool, settings)
        if args.command == "audit":
            trail = await reports.audit_trail(
                AuditTrail(aggregate_id=args.aggregate_id, related=not args.own)
            )
            if args.json:
                out.write(json.dumps(trail, indent=2, ensure_ascii=False, default=str) + "\n")
            else:
                print_trail(trail, out)
            return 0 if trail["entries"] else 1
        if args.command == "report":
            fields = {
                "period": args.period,
                "year": args.year,
                "customer_id": args.customer_id,
                "as_of": args.as_of,
            }
            model = REPORTS[args.name]
            query = model(**{k: v for k, v in fields.items() if v is not None and k in model.model_fields})
            result = await getattr(reports, _method(args.name))(query)
            out.write(json.dumps(result, indent=2, ensure_ascii=False, default=str) + "\n")
            return 0
        async with pool.acquire() as conn:
            if args.command in ("import-history", "sign-off"):
                return await _write(conn, args, settings, out)
            if args.command == "rebuild":
                stats = await r.rebuild(
                    conn,
                    settings.period_mode,
                    args.only,
                    args.from_position,
                    ProgressBar(out, "rebuild"),
                    r.Readers(settings.postgres_dsn),
                )
                out.write(
                    f"\nrebuilt {', '.join(stats.projections)} from {stats.events} events "
                    f"(+{stats.caught_up} caught up at the swap) in {stats.seconds:.2f}s: "
                    f"{stats.rate:,.0f} events/s\n"
                )
                return 0
            stats = await r.verify(
                conn,
                settings.period_mode,
                args.only,
                ProgressBar(out, "verify"),
                r.Readers(settings.postgres_dsn),
            )
            out.write(
                f"\nrebuilt {stats.events} events in {stats.seconds:.2f}s: {stats.rate:,.0f} events/s\n"
            )
            for name, diff in stats.differences.items():
                state = "equal" if diff["missing"] == diff["extra"] == 0 else "DIFFERENT"
                out.write(
                    f"{name:<24} live {diff['live_rows']:>7} rebuilt {diff['rebuilt_rows']:>7} "
                    f"missing {diff['missing']:>5} extra {diff['extra']:>5}  {state}\n"
                )
            out.write("rebuild equals live row for row\n" if stats.equal else "rebuild DIFFERS from live\n")
            return 0 if stats.equal else 1
    finally:
        await pool.close()


async def _write(conn: Any, args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """The two commands of reporting's own, run here as over the bus; a refusal is printed with its rule."""
    now = datetime.now(UTC)
    try:
        if args.command == "sign-off":
            actor = Actor(id=args.by, role=Role.SALES_MANAGER)
            done = await signoff.sign_off(conn, args.period, actor, now, settings.period_mode)
            out.write(f"period {done['period']} signed off by {done['signed_by']} at {done['signed_at']}\n")
            return 0
        actor = Actor(id=args.by, role=Role.FINANCE)
        content = args.file.read_text(encoding="utf-8")
        result = await history.import_history(
            conn,
            content,
            args.file.name,
            actor,
            now,
            settings.period_mode,
            ProgressBar(out, "import", "lines"),
        )
    except DomainError as error:
        out.write(f"refused ({error.rule}): {error.message}\n")
        for problem in error.details.get("problems", []):
            out.write(f"  line {problem['line']}: {problem['field'] or '-'}: {problem['message']}\n")
        return 1
    if result.imported:
        out.write(f"\nimported {result.imported} lines of {args.file.name} (sha256 {result.sha256})\n")
    else:
        out.write(f"{args.file.name} was imported before (sha256 {result.sha256}); nothing new imported\n")
    return 0


def _method(name: str) -> str:
    return "annual" if name == "annual_statistics" else name


async def progress_of(settings: Settings, names: list[str]) -> dict[str, int]:
    pool = await open_pool(settings, max_size=1)
    try:
        rows = await pool.fetch(
            "SELECT projection, seq FROM reporting.rebuild_progress WHERE projection = ANY($1::text[])", names
        )
        return {r["projection"]: r["seq"] for r in rows}
    finally:
        await pool.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = Settings()
    try:
        return asyncio.run(run(args, settings))
    except ValueError as error:
        sys.stderr.write(f"\n{error}\n")
        return 2
    except KeyboardInterrupt:
        if args.command != "rebuild":
            raise
        reached = asyncio.run(progress_of(settings, args.only or sorted(PROJECTIONS)))
        positions = sorted(set(reached.values()))
        hint = f"; resume with --from-position {positions[0]}" if len(positions) == 1 and positions[0] else ""
        sys.stderr.write(f"\ninterrupted; the live tables are unchanged{hint}\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
