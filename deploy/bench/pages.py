"""Part (5) continued: the dashboard's overview page rendered over a generated year (issue #22: p99 ≤ 50 ms
with a year of 500 distributors).

The page is asked for through the HTTP app in process (httpx's ASGI transport), so the figure is the
page's own work (its reports, templates and chart), not the loopback's; the baseline is the cheapest
JSON route of the same app. Alone, on a small year: ``python -m deploy.bench.pages [--events N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime

import httpx
import nats

from deploy.bench.common import ISSUER, SERVICES, Figure, bench_settings, percentile
from deploy.bench.seed import Year, load_year
from deploy.bench.year import run_child
from services.reporting.api import Reports
from services.reporting.http import create_app
from shared.database import drop_database, ensure_database
from shared.identity.tokens import Grant
from shared.identity.verify import Verifier
from shared.streams import delete_streams

TARGET_MS = 50.0
# Uncached, the overview recomputes R12's receivables ageing (seconds on a large year): a few suffice.
UNCACHED_REQUESTS = 10


async def timings(
    client: httpx.AsyncClient, path: str, requests: int, clear: bool, reports: Reports
) -> list[float]:
    (await client.get(path)).raise_for_status()  # warm: the reports cached, the templates compiled
    values = []
    for _ in range(requests):
        if clear:
            reports.cache.clear()
        started = time.perf_counter()
        (await client.get(path)).raise_for_status()
        values.append((time.perf_counter() - started) * 1000)
    return values


async def overview_figures(
    reports: Reports, year: int, requests: int, part: str = "5 reports"
) -> list[Figure]:
    """The overview of the year's last period, cached (projections unchanged: the dashboard case) and
    uncached (every report computed again); ``part``: the table's part the figures belong to."""
    app = create_app(reports, Verifier(ISSUER.signing_key.public_key()))
    token = ISSUER.token("gm-bench", Grant("general_manager"))
    headers = {"Authorization": f"Bearer {token}"}
    transport = httpx.ASGITransport(app=app)
    figures = []
    async with httpx.AsyncClient(transport=transport, base_url="http://bench", headers=headers) as client:
        baseline = percentile(await timings(client, "/api/lag", requests, False, reports), 0.99)
        for cached in (True, False):
            count = requests if cached else min(requests, UNCACHED_REQUESTS)
            values = await timings(client, f"/dashboard?period={year}-12", count, not cached, reports)
            p99 = percentile(values, 0.99)
            figures.append(
                Figure(
                    part,
                    f"dashboard overview page ({'cached' if cached else 'uncached'}, {count} requests) "
                    f"p50 {percentile(values, 0.5):.1f} / p99",
                    p99,
                    "ms",
                    baseline,
                    "p99 of GET /api/lag (same app, no report)",
                    f"≤ {TARGET_MS:.0f} ms" if cached else "",
                    p99 <= TARGET_MS if cached else None,
                )
            )
    return figures


async def alone(events: int, distributors: int, branches: int, requests: int) -> list[Figure]:
    from services.reporting.main import start_reporting, stopped

    settings = bench_settings(uuid.uuid4().hex[:8], "pages")
    year = Year(year=datetime.now(UTC).year - 1)
    nc = await nats.connect(settings.nats_url)
    try:
        await asyncio.to_thread(ensure_database, settings)
        await load_year(settings, year, distributors, branches, events)
        await asyncio.to_thread(run_child, "rebuild", settings)
        stop = asyncio.Event()
        service = await start_reporting(settings, stop, sources=())
        try:
            return await overview_figures(service.reports, year.year, requests)
        finally:
            stop.set()
            await stopped(service)
    finally:
        await delete_streams(nc.jetstream(), settings, SERVICES)
        await nc.close()
        await asyncio.to_thread(drop_database, settings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--distributors", type=int, default=500)
    parser.add_argument("--branches", type=int, default=20)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    for figure in asyncio.run(alone(args.events, args.distributors, args.branches, args.requests)):
        verdict = "" if figure.met is None else ("met" if figure.met else "NOT met")
        print(f"{figure.name} {figure.value:.1f} {figure.unit} (baseline {figure.baseline:.1f}) {verdict}")


if __name__ == "__main__":
    main()
