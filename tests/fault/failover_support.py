"""What the failover tests (two instances, 3-node cluster) share: the services as several processes, the
load from its own process, and the audit that compares the stores, the streams and reporting's log."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import nats.errors
from nats.aio.client import Client as NATS

from deploy.local.processes import ROOT, ServiceProcesses
from shared.outbox import RECEIPT_TOPIC
from shared.settings import Settings
from shared.subjects import events_wildcard, stream_name
from tests.conftest import wait_for

WRITE_SERVICES = ("customers", "orders", "complaints")
LOADED = ("customers", "orders")  # the services the load writes to
DOC = ROOT / "docs" / "reliability.md"
# The tests' own JetStream API requests: a cluster electing leaders (just formed, a node killed) can take
# longer than nats-py's default 5 s to answer, which says nothing about what the system under test did.
JS_API_TIMEOUT = 30.0


class Instances:
    """``count`` processes of each service, instance i logging to ``log_dir/<i>/<service>.log``."""

    def __init__(self, env: dict[str, str], log_dir: Path, count: int = 2) -> None:
        self.sets = [ServiceProcesses(env, log_dir / str(i)) for i in range(count)]

    def start(self, services: tuple[str, ...]) -> None:
        for processes in self.sets:
            for service in services:
                processes.start(service)

    def pid(self, index: int, service: str) -> int:
        return self.sets[index].running[service].pid

    def index_of(self, service: str, pid: int) -> int:
        for index, processes in enumerate(self.sets):
            running = processes.running.get(service)
            if running is not None and running.pid == pid:
                return index
        raise LookupError(f"no running {service} instance has pid {pid}")

    def kill(self, index: int, service: str) -> None:
        self.sets[index].kill(service)

    def stop(self) -> None:
        for processes in self.sets:
            processes.stop_all()

    def tails(self, service: str) -> str:
        return "\n".join(f"--- {service}[{i}]\n{p.log_tail(service)}" for i, p in enumerate(self.sets))


@contextlib.contextmanager
def load_process(env: dict[str, str], out: Path, **sizes: int) -> Iterator[subprocess.Popen[bytes]]:
    """The load for the duration of the block; killed if still running at its end (a failed test)."""
    process = start_load(env, out, **sizes)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def start_load(env: dict[str, str], out: Path, **sizes: int) -> subprocess.Popen[bytes]:
    """The command load in its own process (``deploy/local/failover_load.py``)."""
    load_env = {**os.environ, **env, **{f"SALESOPS_LOAD_{k.upper()}": str(v) for k, v in sizes.items()}}
    log = open(out.with_suffix(".log"), "wb")  # noqa: SIM115 - the process owns it
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "deploy.local.failover_load", str(out)],
            cwd=ROOT,
            env=load_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    finally:
        log.close()


async def finish_load(process: subprocess.Popen[bytes], out: Path, timeout: float = 180.0) -> dict[str, Any]:
    code = await asyncio.to_thread(process.wait, timeout)
    assert code == 0, load_log(out)
    result: dict[str, Any] = json.loads(out.read_text())
    return result


async def relay_holder(dsn: str, service: str) -> int | None:
    """The pid of the process whose outbox relay holds the service's advisory lock (None: nobody)."""
    conn = await asyncpg.connect(dsn)
    try:
        name = await conn.fetchval(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND a.application_name LIKE $1 "
            "AND a.datname = current_database()",  # other tests' relays run in other databases
            f"{service}-relay-%",
        )
    finally:
        await conn.close()
    return int(name.rsplit("-", 1)[1]) if name else None


async def stored_count(dsn: str, service: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        count: int = await conn.fetchval(
            f'SELECT count(*) FROM "{service}"."{service}application_events" WHERE topic <> $1', RECEIPT_TOPIC
        )
    finally:
        await conn.close()
    return count


async def poll_under_load(
    condition: Callable[[], Awaitable[bool]],
    load: subprocess.Popen[bytes],
    out: Path,
    timeout: float,
    context: Callable[[], str] = str,
) -> None:
    """``wait_for``, failing at once with the load's log when the load process ends first, and with the load's
    log and ``context()`` (the services' log tails) when the time runs out."""

    async def met_or_load_ended() -> bool:
        if await condition():
            return True
        if load.poll() is not None:
            raise AssertionError(f"the load ended ({load.returncode}) first:\n{load_log(out)}\n{context()}")
        return False

    try:
        await wait_for(met_or_load_ended, timeout)
    except AssertionError as error:
        if "the load ended" in str(error):
            raise
        raise AssertionError(f"condition not met in time; load log:\n{load_log(out)}\n{context()}") from None


def load_log(out: Path) -> str:
    return out.with_suffix(".log").read_text()[-3000:]


@dataclass
class ServiceAudit:
    """One service's events as stored, as on its stream and as in reporting's log."""

    service: str
    stored: int = 0
    on_stream: int = 0
    consumed: int = 0
    stream_duplicates: int = 0
    lost_on_stream: int = 0
    lost_in_reporting: int = 0
    extra_in_reporting: int = 0
    out_of_order: list[str] = field(default_factory=list)

    @property
    def row(self) -> str:
        return (
            f"| {self.service} | {self.stored} | {self.on_stream} | {self.consumed} | "
            f"{self.stream_duplicates} | {self.lost_on_stream + self.lost_in_reporting} |"
        )


def assert_each_event_once(audits: list[ServiceAudit], acknowledged_events: int) -> None:
    """The stores hold exactly the events of the acknowledged commands, and each of them is on its stream
    once, in per-aggregate order, and in reporting's log once."""
    assert sum(a.stored for a in audits) == acknowledged_events
    for a in audits:
        assert a.on_stream == a.stored, a
        assert a.stream_duplicates == 0, a
        assert a.lost_on_stream == 0, a
        assert a.lost_in_reporting == 0 and a.extra_in_reporting == 0, a
        assert a.consumed == a.stored, a
        assert a.out_of_order == [], a.out_of_order[:5]


async def stream_events(nc: NATS, settings: Settings, service: str) -> list[dict[str, Any]]:
    """Every envelope on the service's stream, in stream order (an ordered consumer)."""
    js = nc.jetstream(timeout=JS_API_TIMEOUT)
    total = (await js.stream_info(stream_name(settings.namespace, service))).state.messages
    subscription = await js.subscribe(events_wildcard(settings.namespace, service), ordered_consumer=True)
    envelopes: list[dict[str, Any]] = []
    try:
        while len(envelopes) < total:
            try:
                msg = await subscription.next_msg(timeout=5)
            except nats.errors.TimeoutError:
                break
            envelopes.append(json.loads(msg.data))
    finally:
        with contextlib.suppress(nats.errors.Error):
            await subscription.unsubscribe()
    return envelopes


async def audit(nc: NATS, settings: Settings, service: str) -> ServiceAudit:
    result = ServiceAudit(service)
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        stored = {
            r["notification_id"]: (str(r["originator_id"]), r["originator_version"])
            for r in await conn.fetch(
                f'SELECT notification_id, originator_id, originator_version FROM "{service}".'
                f'"{service}application_events" WHERE topic <> $1',
                RECEIPT_TOPIC,
            )
        }
        logged = [
            r["position"]
            for r in await conn.fetch("SELECT position FROM reporting.event_log WHERE service = $1", service)
        ]
    finally:
        await conn.close()
    streamed = await stream_events(nc, settings, service)
    positions = Counter(int(e["position"]) for e in streamed)
    result.stored = len(stored)
    result.on_stream = len(streamed)
    result.consumed = len(logged)
    result.stream_duplicates = sum(n - 1 for n in positions.values())
    result.lost_on_stream = len(set(stored) - set(positions))
    result.lost_in_reporting = len(set(stored) - set(logged))
    result.extra_in_reporting = len(set(logged) - set(stored))
    # Per aggregate, the stream must hold versions 1, 2, 3 ... in this order (no gap, no swap).
    last: dict[str, int] = {}
    for envelope in streamed:
        aggregate, version = envelope["aggregate_id"], int(envelope["aggregate_version"])
        if version != last.get(aggregate, 0) + 1:
            result.out_of_order.append(f"{aggregate}: v{version} after v{last.get(aggregate, 0)}")
        last[aggregate] = max(version, last.get(aggregate, 0))
    return result


async def reporting_caught_up(settings: Settings) -> bool:
    """Reporting has consumed every event the loaded services stored."""
    for service in LOADED:
        if await consumed_count(settings, service) < await stored_count(settings.postgres_dsn, service):
            return False
    return True


async def consumed_count(settings: Settings, service: str) -> int:
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM reporting.event_log WHERE service = $1", service
        )
    finally:
        await conn.close()
    return count


def write_doc_section(marker: str, text: str, path: Path = DOC) -> None:
    """Replace this test's section between ``<!-- marker -->`` and ``<!-- /marker -->`` (append it when
    missing); the rest of the file belongs to others and is kept as it is."""
    begin, end = f"<!-- {marker} -->", f"<!-- /{marker} -->"
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    block = f"{begin}\n{text.strip()}\n\nLast run {stamp}.\n{end}"
    path.parent.mkdir(parents=True, exist_ok=True)
    # The same lock file as deploy/ops/reliability_doc.py: the fault tests write this file one at a time.
    with (Path(tempfile.gettempdir()) / "salesops-reliability.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        current = path.read_text() if path.exists() else "# Reliability: failure behaviour, measured\n"
        pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
        if pattern.search(current):
            updated = pattern.sub(lambda _: block, current, count=1)
        else:
            updated = current.rstrip("\n") + "\n\n" + block + "\n"
        path.write_text(updated)
