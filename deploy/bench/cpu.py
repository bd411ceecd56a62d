"""What one command costs in CPU across the processes it crosses: the orders process, its relay, reporting,
the NATS server and the PostgreSQL backends of the run's database, each read from ``/proc/<pid>/stat``
(user + system time) before and after a run.

The NATS server and PostgreSQL's own background processes (WAL writer, checkpointer) serve whoever else uses
the machine too: the server is counted whole (on a shared host it includes others' traffic, so the figure is
high rather than low), the background processes not at all (their work is shared and mostly deferred)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

from deploy.bench.common import Figure, Results
from shared.settings import Settings

TICK = 1 / os.sysconf("SC_CLK_TCK")  # seconds per tick of /proc's times


def backends_query(placeholder: str) -> str:
    """The PostgreSQL backends serving a database (the parameter), not the one asking (psycopg's
    placeholder is ``%s``, asyncpg's ``$1``)."""
    return f"SELECT pid FROM pg_stat_activity WHERE datname = {placeholder} AND pid <> pg_backend_pid()"


def cpu_seconds(pid: int) -> float | None:
    """A process's user + system time so far, or None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) * TICK  # utime, stime: fields 14 and 15 of stat(5)


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                if int((entry / "stat").read_text().rpartition(")")[2].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def listening_pid(port: int) -> int | None:
    """The process listening on TCP ``port`` (the NATS server), found by its socket's inode."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                columns = line.split()
                if columns[3] == "0A" and int(columns[1].rpartition(":")[2], 16) == port:  # 0A: LISTEN
                    inodes.add(f"socket:[{columns[9]}]")
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                for fd in (entry / "fd").iterdir():
                    with contextlib.suppress(OSError):
                        if os.readlink(fd) in inodes:
                            return int(entry.name)
    return None


async def backends(conn: asyncpg.Connection, database: str) -> list[int]:
    """The PostgreSQL backends serving ``database`` (not the one asking)."""
    rows = await conn.fetch(backends_query("$1"), database)
    return [row["pid"] for row in rows]


@dataclass
class CpuUse:
    """CPU seconds per named part over a run: the parts' processes are read before and after it; a process
    that appeared meanwhile (a pool's new connection) counts from zero, one that ended is lost."""

    parts: dict[str, list[int]]
    before: dict[int, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def start(self) -> None:
        self.before = {
            pid: seconds
            for pids in self.parts.values()
            for pid in pids
            if (seconds := cpu_seconds(pid)) is not None
        }

    def stop(self, parts: dict[str, list[int]]) -> None:
        """``parts``: the processes as found at the end (backends come and go)."""
        for name, pids in parts.items():
            total = 0.0
            for pid in set(pids) | set(self.parts.get(name, [])):
                after = cpu_seconds(pid)
                if after is not None:
                    total += after - self.before.get(pid, 0.0)
            self.seconds[name] = total

    def per_command_ms(self, commands: int) -> dict[str, float]:
        return {name: 1000 * s / commands for name, s in self.seconds.items()}

    def total_ms(self, commands: int, leave_out: tuple[str, ...] = ()) -> float:
        return sum(ms for name, ms in self.per_command_ms(commands).items() if name not in leave_out)


CLIENT = "the benchmark's client"
BACKENDS = "PostgreSQL backends"


async def run_parts(
    conn: asyncpg.Connection, settings: Settings, services: dict[str, int]
) -> dict[str, list[int]]:
    """The processes of a run, by part: each service process, its children (a write service's relay), the
    NATS server, the database's backends, and this client."""
    parts: dict[str, list[int]] = {}
    for service, pid in services.items():
        parts[service] = [pid]
        kids = children(pid)
        if kids:
            parts[f"{service} relay"] = kids
    nats_server = listening_pid(urlsplit(settings.nats_url.split(",")[0]).port or 4222)
    parts["NATS server"] = [nats_server] if nats_server is not None else []
    parts[BACKENDS] = await backends(conn, settings.postgres_db)
    parts[CLIENT] = [os.getpid()]
    return parts


@contextlib.asynccontextmanager
async def cpu_during(
    conn: asyncpg.Connection, settings: Settings, services: dict[str, int]
) -> AsyncIterator[CpuUse]:
    """The CPU the run inside takes, by part (``run_parts``)."""
    use = CpuUse(await run_parts(conn, settings, services))
    use.start()
    yield use
    use.stop(await run_parts(conn, settings, services))


def add_cpu_figures(
    results: Results,
    saturation: CpuUse,
    steady: CpuUse,
    commands: int,
    steady_commands: int,
    direct_ms: float,
) -> None:
    """CPU per command across the processes a command crosses, not the client."""
    for label, use, count in (("saturation", saturation, commands), ("200/s", steady, steady_commands)):
        total = use.total_ms(count, leave_out=(CLIENT,))
        at_saturation = label == "saturation"
        results.add(
            Figure(
                "1 commands",
                f"CPU per command at {label}, all processes",
                total,
                "ms",
                direct_ms,
                "CPU of one direct place_order (its thread and PostgreSQL backend)",
                "≤ 0.6 ms" if at_saturation else "",
                total <= 0.6 if at_saturation else None,
            )
        )
        parts = ", ".join(f"{name} {ms:.3f}" for name, ms in use.per_command_ms(count).items())
        results.notes.append(f"CPU per command at {label}, ms, by process (/proc/<pid>/stat): {parts}.")


def idle_note(use: CpuUse, seconds: float) -> str:
    """The CPU each process took while no command came (ms per second: 10 is 1 % of a core)."""
    parts = ", ".join(f"{name} {1000 * s / seconds:.1f}" for name, s in use.seconds.items())
    idle = f"CPU at idle ({seconds:.0f} s with no command after the warm-up)"
    return f"{idle}, ms a second, by process: {parts}."
