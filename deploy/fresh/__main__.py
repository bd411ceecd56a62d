"""``python -m deploy.fresh check``: the README's test command in a fresh container; its result goes to
docs/operations.md (``./salesops fresh-check``). ``python -m deploy.fresh probe URL PASSWORD``: one command
and one query to a running system (the fresh-machine test runs it inside the container)."""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
import psycopg

from deploy.fresh.machine import ensure_image, fresh_machine
from deploy.images import podman_unavailable
from deploy.local.demo import Client, application
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
OPERATIONS = ROOT / "docs" / "operations.md"
BEGIN, END = "<!-- fresh-check: written by ./salesops fresh-check -->", "<!-- /fresh-check -->"
CHECK_HOURS = 2.0  # longest the whole suite may take in the container before the check gives up


async def probe(nats_url: str, password: str) -> dict[str, Any]:
    """Register a prospect (a Chinese name, which a database that is not UTF-8 would mangle), read it back,
    and tell the encoding of the database it was stored in."""
    nc = await nats.connect(nats_url, user="client", password=password)
    try:
        client = Client(nc, Settings().namespace)
        registered = await client.cmd(
            "customers", "register_prospect", application("dealer", "温州新世纪阀门有限公司", "EAST")
        )
        read = await client.query(
            "customers",
            "get_customer",
            {"actor": {"id": "fin-zhao", "role": "finance"}, "customer_id": registered["customer_id"]},
        )
    finally:
        await nc.drain()
    with psycopg.connect(Settings().postgres_dsn) as conn:
        found = conn.execute(
            "SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = current_database()"
        ).fetchone()
    return {"command": registered, "query": read, "database_encoding": found[0] if found else None}


def counts(output: str) -> dict[str, int]:
    """pytest's closing counts (``12 passed, 1 skipped, 2 failed in ...``) from the run's output."""
    closing = next(
        (line for line in reversed(output.splitlines()) if re.search(r"\d+ (passed|failed)", line)), ""
    )
    return {kind: int(n) for n, kind in re.findall(r"(\d+) (passed|failed|skipped|errors?)", closing)}


def record(result: str, document: Path = OPERATIONS) -> None:
    """Put ``result`` in ``document`` between the markers (appended with them the first time)."""
    text = document.read_text()
    block = f"{BEGIN}\n{result}\n{END}"
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + block + text[text.index(END) + len(END) :]
    else:
        text = f"{text.rstrip()}\n\n## Last fresh-machine check\n\n{block}\n"
    document.write_text(text)


def check() -> int:
    """Run ``./salesops test`` in a fresh container of the committed HEAD; record and return its outcome."""
    unavailable = podman_unavailable()
    if unavailable:
        print(f"[salesops] fresh-check needs podman: {unavailable}", file=sys.stderr)
        return 1
    ensure_image()
    started = time.monotonic()
    log = ROOT / ".state" / "fresh-check.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with fresh_machine(ROOT, "./salesops", "test") as machine:
        print(
            f"[salesops] running ./salesops test on {machine.commit[:12]} in {machine.name} (log: {log})",
            flush=True,
        )
        code = machine.wait(timeout=CHECK_HOURS * 3600)
        output = machine.output()
    log.write_text(output)
    minutes = (time.monotonic() - started) / 60
    found = counts(output)
    outcome = "passed" if code == 0 else f"failed (exit {code})"
    summary = ", ".join(f"{n} {kind}" for kind, n in found.items()) or "no pytest summary"
    failed = found.get("failed", 0) + found.get("error", 0) + found.get("errors", 0)
    record(
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n"
        f"- commit: `{machine.commit}`\n"
        f"- result: {outcome}: {summary}\n"
        f"- passed: {found.get('passed', 0)}, failed: {failed}\n"
        f"- minutes: {minutes:.1f} (from a minimal Debian bookworm with only python3 and git: set-up and"
        " the whole suite)"
    )
    print(f"[salesops] fresh-check {outcome}: {summary}, {minutes:.1f} min; recorded in docs/operations.md")
    return 0 if code == 0 else 1


def main(args: list[str]) -> int:
    if args[:1] == ["check"] and len(args) == 1:
        return check()
    if args[:1] == ["probe"] and len(args) == 3:
        print(json.dumps(asyncio.run(probe(args[1], args[2])), ensure_ascii=False))
        return 0
    print("usage: python -m deploy.fresh check | probe NATS_URL CLIENT_PASSWORD", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
