"""``python -m deploy.bench.identity``: what verifying a request's token costs a route, in CPU µs per request.

Measured in-process (no NATS, no store) on one route whose handler returns at once: the route's reply
with the token checked against without (a public route), a token the service has seen before (every
command of a client after its first) and one it has not (its signature checked). The difference is what
verification adds to each command (docs/decisions/0005-identity-verification-cost.md).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.bus import Route, ServiceBus
from shared.contracts import Command
from shared.identity.client import Credentials
from shared.identity.tokens import Grant, issue_token, load_signing_key, new_signing_key, public_pem
from shared.settings import Settings

REQUESTS = 20_000
COLD = 500
BODY = b'{"actor": {"id": "sp-wang", "role": "salesperson"}}'


async def accepted(_: Any) -> dict[str, Any]:
    return {}


async def per_request(
    bus: ServiceBus, route: Route, headers: list[dict[str, str]], before: Callable[[], None] = lambda: None
) -> float:
    """CPU µs per reply (what bounds a saturated service), the best of five runs."""
    best = float("inf")
    for _ in range(5):
        before()
        began = time.process_time()
        for header in headers:
            reply = await bus._reply(route, BODY, header)
            assert reply["ok"], reply
        best = min(best, (time.process_time() - began) / len(headers) * 1e6)
    return best


async def main() -> None:
    credentials = Credentials(load_signing_key(new_signing_key()))
    settings = Settings(identity_public_key=public_pem(credentials.signing_key))
    bus = ServiceBus(settings, "measured")
    verified = Route("cmd", "measured", "m.cmd", "q", Command, None, accepted)
    public = Route("cmd", "measured", "m.cmd", "q", Command, None, accepted, public=True)
    seen = [credentials.headers({"actor": {"id": "sp-wang", "role": "salesperson"}})] * REQUESTS
    now, grant = datetime.now(UTC), Grant("salesperson")
    fresh = [  # distinct tokens: each lives a second longer than the one before
        {
            "Authorization": "Bearer "
            + issue_token(key, "sp-wang", [grant], now, timedelta(hours=1, seconds=i))
        }
        for i, key in enumerate([credentials.signing_key] * COLD)
    ]
    unchecked = await per_request(bus, public, seen)
    known = await per_request(bus, verified, seen)
    first = await per_request(bus, verified, fresh, before=bus.verifier.forget)
    print(f"route without a token check:        {unchecked:7.1f} µs/request")
    print(f"token seen before (every command):  {known:7.1f} µs/request  (+{known - unchecked:.1f})")
    print(f"token not seen before (signature):  {first:7.1f} µs/request  (+{first - unchecked:.1f})")


if __name__ == "__main__":
    asyncio.run(main())
