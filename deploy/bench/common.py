"""The benchmark's sizes, figures and results, and the light bus client every part uses."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from nats.aio.client import Client as NATS

from shared.identity.client import Credentials
from shared.identity.tokens import load_signing_key, new_signing_key, public_pem
from shared.settings import Settings

GM = {"id": "gm-1", "role": "general_manager"}
PRODUCTION = {"id": "prod-1", "role": "production"}
SALES = {"id": "sp-1", "role": "salesperson"}
PRODUCT_CODES = ("BENCH-1", "BENCH-2", "BENCH-3")
IN_FLIGHT = 64
STEADY_RATE = 200.0
STEADY_WARMUP = 3.0  # seconds at the steady rate before the measured ones
SERVICES = ["customers", "orders", "complaints", "reporting"]
REPORT_PERIOD_MONTH = 6
QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("distributor_monthly", {"period": "{year}-06"}),
    ("branch_monthly", {"period": "{year}-06"}),
    ("key_customers", {"period": "{year}-06"}),
    ("regions", {"period": "{year}-06"}),
    ("staff", {"period": "{year}-06"}),
    ("monthly_review", {"period": "{year}-06"}),
    ("annual_statistics", {"year": "{year}"}),
]


@dataclass(frozen=True)
class Sizes:
    customers: int  # orders' customers (the accounts the orders spread over)
    saturation_commands: int
    baseline_commands: int
    steady_seconds: float
    backlog_events: int
    year_events: int  # target size of the generated year
    distributors: int
    branches: int
    report_requests: int
    history_rows: int = 0  # R14 lines imported before the rebuild (``--scale``: ten years of history)


QUICK = Sizes(500, 3_000, 1_000, 5.0, 20_000, 200_000, 500, 20, 50)
FULL = Sizes(500, 20_000, 5_000, 30.0, 100_000, 2_000_000, 500, 20, 200)


@dataclass
class Figure:
    part: str
    name: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    target: str = ""
    met: bool | None = None

    @property
    def ratio(self) -> float | None:
        return self.value / self.baseline if self.baseline else None


@dataclass
class Results:
    mode: str
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    started: datetime = field(default_factory=lambda: datetime.now(UTC))

    def add(self, figure: Figure) -> None:
        self.figures.append(figure)
        print(f"  {format_row(figure)}", flush=True)


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def bench_settings(token: str, part: str) -> Settings:
    """A part's own database and namespace; a service started in this process verifies the tokens of the
    benchmark's own issuer (not whatever key the environment or ``.state`` holds)."""
    return Settings(
        namespace=f"bench{token}{part}",
        postgres_db=f"salesops_bench_{token}_{part}",
        log_level="WARNING",
        identity_public_key=public_pem(ISSUER.signing_key),
    )


# The benchmark's own token issuer: its services verify with the public key, its clients sign.
ISSUER = Credentials(load_signing_key(new_signing_key()))


def process_env(settings: Settings) -> dict[str, str]:
    return {
        "SALESOPS_IDENTITY_PUBLIC_KEY": public_pem(ISSUER.signing_key),
        "SALESOPS_NAMESPACE": settings.namespace,
        "SALESOPS_POSTGRES_DB": settings.postgres_db,
        "SALESOPS_LOG_LEVEL": "WARNING",
        "SALESOPS_REPORTING_HTTP": "false",
    }


class Client:
    """Requests on the bus with plain nats-py: bytes in, decoded reply out."""

    def __init__(self, nc: NATS, settings: Settings) -> None:
        self.nc = nc
        self.prefix = settings.namespace

    async def call(self, service: str, kind: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        reply = await self.nc.request(
            f"{self.prefix}.{service}.{kind}.{name}",
            orjson.dumps(body),
            timeout=30,
            headers=ISSUER.headers(body),
        )
        result: dict[str, Any] = orjson.loads(reply.data)
        return result

    async def ok(self, service: str, kind: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        reply = await self.call(service, kind, name, body)
        if not reply.get("ok"):
            raise RuntimeError(f"{name} refused: {reply}")
        result: dict[str, Any] = reply["result"]
        return result


def order_body(customer_id: str, i: int) -> dict[str, Any]:
    return {
        "actor": SALES,
        "customer_id": customer_id,
        "channel": "phone",
        "lines": [{"product_code": PRODUCT_CODES[i % 3], "quantity": 1 + i % 5}],
    }


async def wait_until(condition: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not done in {timeout:.0f} s")
        await asyncio.sleep(0.1)


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return ""
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}"
    return f"{text} {unit}".strip()


def format_row(f: Figure) -> str:
    ratio = f"{f.ratio:.2f}×" if f.ratio is not None else ""
    met = "" if f.met is None else ("met" if f.met else "MISSED")
    base = f"baseline {fmt(f.baseline, f.unit)} ({f.baseline_name}) ratio {ratio}" if f.baseline else ""
    return f"[{f.part}] {f.name}: {fmt(f.value, f.unit)} {base} {f.target} {met}".rstrip()
