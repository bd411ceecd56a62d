"""A command load through the bus contract from its own process: ``python -m deploy.local.failover_load OUT``.

Registers prospects (customers: one new aggregate each, then a credit check: two events per customer)
and receives stock on a few products (orders: many events on each product aggregate, so per-aggregate
order matters). Every command carries an idempotency key and is sent again with the same key when
no answer comes (its instance was killed, a node failed over): each command takes effect once.
Connection settings come from the ``SALESOPS_*`` environment; ``SALESOPS_LOAD_*`` size the load.
Writes what it did to OUT.json (commands, answers, retries, the quantity received per product).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import nats.errors
from tenacity import AsyncRetrying, RetryCallState, RetryError, retry_if_exception_type, stop_after_attempt

from deploy.local.load import prospect_body
from shared.bus import connect_nats
from shared.identity.client import Credentials
from shared.settings import Settings

GM = {"id": "gm-load", "role": "general_manager"}
PRODUCTION = {"id": "prod-load", "role": "production"}
SALESPERSON = {"id": "sp-load", "role": "salesperson"}
FINANCE = {"id": "fin-load", "role": "finance"}
ATTEMPTS = 30


class LoadFailed(RuntimeError):
    pass


class NotStored(Exception):
    """Refused before anything was stored (unavailable, a conflict): the same command may be sent again."""


UNANSWERED = (nats.errors.TimeoutError, nats.errors.NoRespondersError, nats.errors.ConnectionClosedError)


def _pause_before_resending(attempt: RetryCallState) -> float:
    """Half a second after a refusal; after no answer, longer each time (a node may be electing)."""
    if attempt.outcome is not None and isinstance(attempt.outcome.exception(), NotStored):
        return 0.5
    return min(0.2 * attempt.attempt_number, 1.0)


class Load:
    def __init__(self, nc: Any, namespace: str, credentials: Credentials) -> None:
        self.nc = nc
        self.namespace = namespace
        self.credentials = credentials
        self.sent = 0
        self.retries = 0
        self.events = 0  # events the acknowledged commands stored
        self.received: Counter[str] = Counter()
        self.customers: list[str] = []

    async def command(self, service: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """Send until answered; the same idempotency key each time."""
        payload = json.dumps({**body, "idempotency_key": uuid.uuid4().hex}).encode()
        headers = self.credentials.headers(body)
        self.sent += 1

        async def send() -> dict[str, Any]:
            reply = await self.nc.request(
                f"{self.namespace}.{service}.cmd.{name}", payload, timeout=3, headers=headers
            )
            answer: dict[str, Any] = json.loads(reply.data)
            if answer.get("ok"):
                result: dict[str, Any] = answer["result"]
                return result
            # Nothing was stored for these: the same command (same key) may simply be sent again.
            if answer.get("error", {}).get("code") in ("unavailable", "conflict"):
                raise NotStored(answer)
            raise LoadFailed(f"{service}.{name} refused: {answer}")

        def counted(_: RetryCallState) -> None:
            self.retries += 1

        retrying = AsyncRetrying(
            retry=retry_if_exception_type((*UNANSWERED, NotStored)),
            wait=_pause_before_resending,
            stop=stop_after_attempt(ATTEMPTS),
            after=counted,
        )
        try:
            return await retrying(send)
        except RetryError:
            raise LoadFailed(f"{service}.{name}: no answer after {ATTEMPTS} attempts") from None

    async def prospect(self, index: int) -> None:
        result = await self.command(
            "customers", "register_prospect", prospect_body(SALESPERSON, f"Load dealer {index}")
        )
        customer_id = str(result["customer_id"])
        self.customers.append(customer_id)
        await self.command(
            "customers",
            "investigate_credit",
            {"actor": FINANCE, "customer_id": customer_id, "rating": "good", "credit_limit": "100000.00"},
        )
        self.events += 2

    async def receive(self, product: str, quantity: int) -> None:
        await self.command(
            "orders", "receive_stock", {"actor": PRODUCTION, "product_code": product, "quantity": quantity}
        )
        self.received[product] += quantity
        self.events += 1


async def run(out: Path) -> None:
    settings = Settings()
    prospects = int(os.environ.get("SALESOPS_LOAD_PROSPECTS", "150"))
    receipts = int(os.environ.get("SALESOPS_LOAD_RECEIPTS", "300"))
    products = [f"LOAD-{n}" for n in range(int(os.environ.get("SALESOPS_LOAD_PRODUCTS", "4")))]
    concurrency = int(os.environ.get("SALESOPS_LOAD_CONCURRENCY", "8"))
    nc = await connect_nats(settings, "load")
    load = Load(nc, settings.namespace, Credentials.from_settings(settings))
    try:
        for product in products:
            body = {"actor": GM, "product_code": product, "name": product, "spec": "DN50"}
            await load.command(
                "orders", "list_product", body | {"list_price": "100.00", "standard_cost": "60.00"}
            )
            load.events += 1
        jobs: list[Any] = [load.prospect(i) for i in range(prospects)]
        jobs += [load.receive(products[i % len(products)], 1 + i % 7) for i in range(receipts)]
        # Interleave the two services' commands so both are under load all the time.
        jobs = [job for pair in zip(jobs[:prospects], jobs[prospects:], strict=False) for job in pair] + (
            jobs[2 * min(prospects, receipts) :] if prospects > receipts else jobs[prospects + prospects :]
        )
        gate = asyncio.Semaphore(concurrency)

        async def limited(job: Any) -> None:
            async with gate:
                await job

        await asyncio.gather(*(limited(job) for job in jobs))
    finally:
        out.write_text(
            json.dumps(
                {
                    "commands": load.sent,
                    "retries": load.retries,
                    "events": load.events,
                    "received": dict(load.received),
                    "customers": load.customers,
                }
            )
        )
        await nc.close()


if __name__ == "__main__":
    asyncio.run(run(Path(sys.argv[1])))
