"""``./salesops up``: run the four services as separate processes, load the demo flow, show where to look.

Ctrl-C (or SIGTERM) stops every process it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import sys
from pathlib import Path

import nats

from deploy.local.demo import run_demo
from deploy.local.processes import ROOT, SERVICES, ServiceProcesses, wait_ready
from shared.bus import nats_options
from shared.settings import Settings
from shared.store import ensure_database


async def main() -> int:
    settings = Settings()
    ensure_database(settings, list(SERVICES))
    # The dashboard's reads need a token: make one for this run unless one is configured.
    token = os.environ.get("SALESOPS_REPORTING_TOKEN") or secrets.token_urlsafe(24)
    processes = ServiceProcesses({"SALESOPS_REPORTING_TOKEN": token}, Path(ROOT, ".state", "logs"))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        for service in SERVICES:
            processes.start(service)
        nc = await nats.connect(**nats_options(settings))  # one URL or a cluster's, and the credentials
        for service in SERVICES:
            await wait_ready(nc, settings.namespace, service)
        print(f"[salesops] services up: {', '.join(SERVICES)} (logs in .state/logs/)")
        summary = await run_demo(nc, settings.namespace)
        print(summary)
        print(
            "[salesops] where to look:\n"
            f"  dashboard and reports:  http://{settings.http_host}:{settings.http_port}/  (token {token})\n"
            f"  commands / queries:     NATS request/reply, {settings.namespace}.<service>.cmd.* / .query.*\n"
            f"  events:                 JetStream streams {settings.namespace.upper()}_<SERVICE>\n"
            "  contracts:              docs/asyncapi/*.json\n"
            "  audit trail:            .venv/bin/python -m services.reporting.cli audit <aggregate id>\n"
            "[salesops] Ctrl-C stops everything"
        )
        await nc.drain()
        await stop.wait()
    finally:
        print("[salesops] stopping")
        processes.stop_all()
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(asyncio.run(main()))
