"""A bounded load generator in its own process, talking to the services only through the bus contract.

``python -m deploy.local.load --out FILE [--commands N] [--seconds S] [--concurrency C] [--rate R]
[--stop-file F]``

It sends a mix of commands that need no earlier state (customers ``register_prospect``, orders
``list_product`` / ``receive_stock``, complaints ``log_complaint``, field ``plan_month_visits`` /
``report_market_intelligence``), each with its own idempotency key,
until it has sent ``--commands`` or ``--seconds`` passed (both bounds always hold), or the file named by
``--stop-file`` appears. It records every command's outcome: ``ok``, the error code of a refusal
(``unavailable`` during a database outage, ...), or ``timeout`` / ``no_responders`` while a service is
down. Namespace and NATS address come from the usual ``SALESOPS_`` settings. The fault tests
run it beside the services (tests/fault/); it also works against ``./salesops up``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import nats
import nats.errors

from shared.bus import nats_options
from shared.clock import BUSINESS_TZ
from shared.identity.client import Credentials
from shared.settings import Settings

SALESPERSON = {"id": "load-sp", "role": "salesperson"}
GM = {"id": "load-gm", "role": "general_manager"}
PRODUCTION = {"id": "load-prod", "role": "production"}
SUPERVISOR = {"id": "load-sup", "role": "sales_supervisor"}


@dataclass
class Sent:
    n: int
    service: str
    command: str
    key: str
    outcome: str  # "ok", an error code, "timeout" or "no_responders"
    result: dict[str, Any] | None


def prospect_body(salesperson: dict[str, str], company_name: str) -> dict[str, Any]:
    """A ``register_prospect`` body with the whole new-customer application (C2), as a client sends it."""
    return {
        "actor": salesperson,
        "kind": "dealer",
        "region": "EAST",
        "salesperson_id": salesperson["id"],
        "company_name": company_name,
        "founding_date": "2010-01-01",
        "legal_representative": "Load Tester",
        "registered_capital": "1000000.00",
        "address": "1 Load Street",
        "phone": "0571-0000000",
        "business_scale": "small",
        "staff_count": 10,
        "annual_sales": "5000000.00",
        "main_products": ["valves"],
        "preferred_payment_terms": "30 days",
        "bank": "Load Bank",
    }


def body_of(n: int, run: str) -> tuple[str, str, dict[str, Any]]:
    """The n-th command of the mix: (service, command, body)."""
    kind = n % 5
    if kind == 0:
        return "customers", "register_prospect", prospect_body(SALESPERSON, f"Load {run} {n}")
    code = f"L{run[:6].upper()}{n // 5:05d}"
    if kind == 1:
        body = {
            "actor": GM,
            "product_code": code,
            "name": f"Load product {n}",
            "spec": "DN50",
            "list_price": "100.00",
            "standard_cost": "60.00",
        }
        return "orders", "list_product", body
    if kind == 2:
        # Stock for the product listed a round earlier: that listing has been answered by now (at most
        # 4 commands are in flight), so only a refused listing makes this one "not found".
        earlier = f"L{run[:6].upper()}{max(0, n // 5 - 1):05d}"
        return "orders", "receive_stock", {"actor": PRODUCTION, "product_code": earlier, "quantity": 5}
    if kind == 4:
        return field_body(n, run)
    body = {
        "actor": SUPERVISOR,
        "complaint_type": "service",
        "customer_id": f"load-customer-{n % 17}",
        "staff_id": SALESPERSON["id"],
        "assigned_to": "load-vp",
        "assigned_role": "sales_vp",
        "description": f"load complaint {n}",
    }
    return "complaints", "log_complaint", body


def field_body(n: int, run: str) -> tuple[str, str, dict[str, Any]]:
    """Field: a salesperson's visit plan of this month, planned again and again (many events on a few
    aggregates, each a figure of R13), or a market report (a new aggregate each)."""
    if n // 5 % 2 == 0:
        month = datetime.now(BUSINESS_TZ).strftime("%Y-%m")
        visits = {f"load-customer-{n % 17}": 1 + n % 3}
        body = {"actor": SUPERVISOR, "salesperson_id": f"load-sp-{n % 7}", "month": month, "visits": visits}
        return "field", "plan_month_visits", body
    body = {
        "actor": SALESPERSON,
        "kind": "competitor_price",
        "region": "EAST",
        "subject": f"load report {run} {n}",
        "content": "a competitor lowered its price",
    }
    return "field", "report_market_intelligence", body


async def run(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    nc = await nats.connect(name="fault-load", **nats_options(settings))
    credentials = Credentials.from_settings(settings)
    run_id = uuid.uuid4().hex[:8]
    counter = itertools.count()
    sent: list[Sent] = []
    started = time.monotonic()
    stop_file = Path(args.stop_file) if args.stop_file else None

    def more() -> bool:
        if time.monotonic() - started > args.seconds:
            return False
        return not (stop_file and stop_file.exists())

    async def send(n: int) -> None:
        service, command, body = body_of(n, run_id)
        key = f"load-{run_id}-{n}"
        payload = json.dumps({**body, "idempotency_key": key}).encode()
        headers = credentials.headers(body)
        subject = f"{settings.namespace}.{service}.cmd.{command}"
        result: dict[str, Any] | None = None
        try:
            reply = json.loads(
                (await nc.request(subject, payload, timeout=args.timeout, headers=headers)).data
            )
            outcome = "ok" if reply["ok"] else reply["error"]["code"]
            result = reply.get("result") if reply["ok"] else reply.get("error")
        except nats.errors.NoRespondersError:
            outcome = "no_responders"
            await asyncio.sleep(0.2)  # the service is down: do not spin
        except (TimeoutError, nats.errors.TimeoutError):
            outcome = "timeout"
        sent.append(Sent(n, service, command, key, outcome, result))

    async def sender() -> None:
        """Closed loop: the next command once the last one was answered."""
        while more():
            n = next(counter)
            if n >= args.commands:
                return
            await send(n)
            if args.pause:
                await asyncio.sleep(args.pause)

    async def dispatcher() -> None:
        """Open loop: ``--rate`` commands a second whatever the answers, at most ``--concurrency`` in
        flight; a service that hangs does not slow the arrivals down, as with real clients."""
        in_flight = asyncio.Semaphore(args.concurrency)
        tasks: set[asyncio.Task[None]] = set()

        async def one(n: int) -> None:
            try:
                await send(n)
            finally:
                in_flight.release()

        for n in range(args.commands):
            if not more():
                break
            await in_flight.acquire()
            task = asyncio.create_task(one(n))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            await asyncio.sleep(1.0 / args.rate)
        await asyncio.gather(*tasks)

    if args.rate:
        await dispatcher()
    else:
        await asyncio.gather(*(sender() for _ in range(args.concurrency)))
    await nc.drain()
    outcomes = Counter(f"{s.service}.{s.command}:{s.outcome}" for s in sent)
    return {
        "run": run_id,
        "seconds": round(time.monotonic() - started, 2),
        "sent": len(sent),
        "ok": sum(1 for s in sent if s.outcome == "ok"),
        "outcomes": dict(sorted(outcomes.items())),
        "commands": [asdict(s) for s in sorted(sent, key=lambda s: s.n)],
    }


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m deploy.local.load", description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="where to write the JSON summary")
    p.add_argument("--commands", type=int, default=1000, help="send at most this many commands")
    p.add_argument("--seconds", type=float, default=60.0, help="and stop after this many seconds anyway")
    p.add_argument("--concurrency", type=int, default=4, help="commands in flight (at most)")
    p.add_argument("--rate", type=float, default=0.0, help="open loop: send this many commands a second")
    p.add_argument("--pause", type=float, default=0.0, help="seconds each sender waits between commands")
    p.add_argument("--timeout", type=float, default=10.0, help="reply timeout per command")
    p.add_argument("--stop-file", help="stop early once this file exists")
    return p


def main() -> None:
    args = parser().parse_args()
    summary = asyncio.run(run(args, Settings()))
    Path(args.out).write_text(json.dumps(summary, indent=1, default=str))
    print(json.dumps({k: v for k, v in summary.items() if k != "commands"}))


if __name__ == "__main__":
    main()
