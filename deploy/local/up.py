"""``./salesops up``: run the five services as separate processes, load the demo flow, show where to look.

Ctrl-C (or SIGTERM) stops every process it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import nats

from deploy.local.demo import DEMO_USERS, run_demo
from deploy.local.processes import PROCESSES, ROOT, SERVICES, ServiceProcesses, wait_ready
from deploy.nats.auth import INTEGRATORS, USERS, authorization_block, password_variable
from deploy.nats.servers import NatsServers
from shared.bus import nats_options
from shared.database import DatabaseNotUtf8, ensure_database
from shared.identity.client import Credentials
from shared.identity.tokens import ensure_signing_key, public_pem
from shared.settings import Settings


@contextlib.contextmanager
def secured_nats(settings: Settings) -> Iterator[tuple[Settings, dict[str, str], dict[str, str]]]:
    """Unless a NATS URL is configured: a nats-server of this run with a user per service whose
    permissions cover only its own subjects (deploy/nats/auth.py); anonymous connections are refused.
    Yields the settings of the ``client`` user, the services' environment and the passwords of the users
    outside systems connect as (``client``, the read-only integrators)."""
    if os.environ.get("SALESOPS_NATS_URL"):
        yield settings, {}, {}
        return
    passwords = {user: f"p{secrets.token_hex(16)}" for user in USERS}
    with NatsServers(
        Path(ROOT, ".state", "nats-secure"), auth=authorization_block(settings.namespace, passwords)
    ) as servers:
        env = {"SALESOPS_NATS_URL": servers.urls} | {password_variable(s): passwords[s] for s in PROCESSES}
        client = settings.model_copy(
            update={"nats_url": servers.urls, "nats_user": "client", "nats_password": passwords["client"]}
        )
        yield client, env, {user: passwords[user] for user in ("client", *INTEGRATORS)}


def write_demo_tokens(path: Path, credentials: Credentials) -> None:
    """A token for every demo user, readable by the owner only: ``{user: {"roles": [...], "token": ...}}``."""
    tokens = {
        user: {"roles": [grant.claim() for grant in grants], "token": credentials.token(user, *grants)}
        for user, grants in DEMO_USERS.items()
    }
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump(tokens, file, indent=1)


async def main() -> int:
    with secured_nats(Settings()) as (settings, nats_env, outside_passwords):
        return await run(settings, nats_env, outside_passwords)


async def run(settings: Settings, nats_env: dict[str, str], outside_passwords: dict[str, str]) -> int:
    ensure_database(settings, list(SERVICES))
    # The embedded token issuer: its signing key stays with this tool, the services get its public key.
    key_file = Path(ROOT, settings.identity_signing_key_file)
    signing_key = ensure_signing_key(key_file)
    identity_env = {"SALESOPS_IDENTITY_PUBLIC_KEY": public_pem(signing_key)}
    demo_tokens = key_file.parent / "demo-tokens.json"
    write_demo_tokens(demo_tokens, Credentials(signing_key, users=DEMO_USERS))
    processes = ServiceProcesses({**identity_env, **nats_env}, Path(ROOT, ".state", "logs"))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        for service in PROCESSES:
            processes.start(service)
        nc = await nats.connect(**nats_options(settings))  # one URL or a cluster's, and the credentials
        for service in PROCESSES:
            await wait_ready(nc, settings.namespace, service)
        print(f"[salesops] services up: {', '.join(PROCESSES)} (logs in .state/logs/)")
        summary = await run_demo(nc, settings.namespace)
        print(summary)
        # client sends commands and queries; an integrator reads the events (docs/integration.md)
        credentials = "".join(
            f"\n    user {user}, password {password}" for user, password in outside_passwords.items()
        )
        where = [
            "[salesops] where to look:",
            f"  dashboard and reports:  http://{settings.http_host}:{settings.http_port}/  to sign in, paste",
            "                          the token this prints (docs/decisions/0006-reporting-readers.md)",
            "                          ./salesops token issue --user gm-zhou --role general_manager",
            f"  NATS:                   {settings.nats_url}{credentials}",
            f"  commands / queries:     NATS request/reply, {settings.namespace}.<service>.cmd.* / .query.*",
            "                          header 'Authorization: Bearer <token>' (docs/integration.md)",
            f"  tokens:                 demo users' in {demo_tokens.relative_to(ROOT)}; another:",
            "                          ./salesops token issue --user sp-wang --role salesperson@EAST",
            f"  events:                 JetStream streams {settings.namespace.upper()}_<SERVICE>",
            f"  department feeds (O10): {settings.namespace}.<marketing|finance|production>.query.get_feed",
            "  contracts:              docs/asyncapi/*.json",
            "  audit trail:            .venv/bin/python -m services.reporting.cli audit <aggregate id>",
            "[salesops] Ctrl-C stops everything",
        ]
        print("\n".join(where), flush=True)
        await nc.drain()
        await stop.wait()
    finally:
        print("[salesops] stopping")
        processes.stop_all()
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        try:
            sys.exit(asyncio.run(main()))
        except DatabaseNotUtf8 as refused:
            sys.exit(f"[salesops] {refused}")
