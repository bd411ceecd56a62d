"""A PostgreSQL cluster of its own in a directory, on a free loopback port: the drills' server.

The backup/restore drill wipes its data directory and the chaos soak restarts it; neither may touch the
machine's shared server. Made with Debian's ``initdb`` (UTF-8, trust on loopback, replication allowed
from loopback so ``pg_basebackup`` and ``pg_receivewal`` can connect) and run with ``pg_ctl``. PostgreSQL
refuses to run as root: run as root, every command runs as the ``postgres`` user, which owns the
directories.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import select
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from deploy.nats.servers import free_port

START_TIMEOUT = 120  # seconds: a start after a crash or a restore replays WAL first


def bindir() -> Path:
    """The newest installed PostgreSQL's programs (Debian keeps them out of PATH)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if found:
        return found[-1].parent
    on_path = shutil.which("initdb")
    if on_path is None:
        raise FileNotFoundError("PostgreSQL's initdb not found: apt-get install postgresql")
    return Path(on_path).resolve().parent


def run_as_owner() -> str | None:
    """The user PostgreSQL's programs run as: ``postgres`` when we are root, else ourselves."""
    return "postgres" if os.geteuid() == 0 else None


def own(path: Path) -> Path:
    """Create ``path`` (mode 700) owned by the user the server runs as."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    user = run_as_owner()
    if user is not None:
        entry = pwd.getpwnam(user)
        for place in [path, *path.rglob("*")]:
            os.chown(place, entry.pw_uid, entry.pw_gid)
    return path


def pg(program: str, *args: str, timeout: float = START_TIMEOUT) -> subprocess.CompletedProcess[str]:
    """Run one of PostgreSQL's programs as the server's user; raises with its output when it fails."""
    result = subprocess.run(
        [str(bindir() / program), *args],
        user=run_as_owner(),
        cwd="/tmp",  # the postgres user may not enter the caller's directory
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{program} {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result


@dataclass
class LocalPostgres:
    """One cluster: ``data`` (its data directory), listening on 127.0.0.1:``port``."""

    data: Path
    port: int = 0
    settings: tuple[str, ...] = ()  # extra ``name = value`` lines for postgresql.conf

    def __post_init__(self) -> None:
        if not self.port:
            self.port = free_port()

    def init(self) -> None:
        own(self.data)
        pg("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8")
        self.configure()

    def configure(self) -> None:
        """Our lines last in postgresql.conf: they win over initdb's (and a restored backup's)."""
        lines = [
            f"port = {self.port}",
            "listen_addresses = '127.0.0.1'",
            "unix_socket_directories = ''",
            "max_connections = 200",
            *self.settings,
        ]
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("\n# deploy.ops.pgcluster\n" + "\n".join(lines) + "\n")

    @property
    def log(self) -> Path:
        return self.data.parent / f"{self.data.name}.log"

    def start(self) -> None:
        if not self.log.exists():
            self.log.touch()
            if (user := run_as_owner()) is not None:
                shutil.chown(self.log, user)
        pg("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", str(START_TIMEOUT), "start")

    def stop(self, mode: str = "fast") -> None:
        pg("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def kill(self) -> None:
        """kill -9 of the postmaster and its backends: a crash. Afterwards its lock file goes too: on a busy
        machine the dead postmaster's pid is soon another process's, and a start would take the stale
        file for a server still running."""
        pid_file = self.data / "postmaster.pid"
        if not pid_file.exists():
            return
        postmaster = int(pid_file.read_text().split()[0])
        # pidfds name these very processes, whatever pids are reused meanwhile; the backends are found
        # before they lose their parent (a start refuses while one still holds the old shared memory).
        handles = []
        for pid in [postmaster, *_children(postmaster)]:
            with contextlib.suppress(ProcessLookupError):
                handles.append(os.pidfd_open(pid))
        try:
            for handle in handles:
                with contextlib.suppress(ProcessLookupError):
                    signal.pidfd_send_signal(handle, signal.SIGKILL)
            waiting = select.poll()
            for handle in handles:
                waiting.register(handle, select.POLLIN)  # readable once the process has exited
            deadline = time.monotonic() + 10
            exited: set[int] = set()
            while len(exited) < len(handles):
                if time.monotonic() > deadline:
                    raise TimeoutError("PostgreSQL processes survived kill -9")
                exited |= {fd for fd, _ in waiting.poll(100)}
        finally:
            for handle in handles:
                os.close(handle)
        pid_file.unlink(missing_ok=True)

    def running(self) -> bool:
        return (
            subprocess.run(
                [str(bindir() / "pg_ctl"), "-D", str(self.data), "status"],
                capture_output=True,
                user=run_as_owner(),
            ).returncode
            == 0
        )

    def wipe(self) -> None:
        """The disaster: the data directory gone, as with a lost disk."""
        shutil.rmtree(self.data, ignore_errors=True)


def _children(parent: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    if int(stat.read().rsplit(")", 1)[1].split()[1]) == parent:
                        found.append(int(entry))
            except (FileNotFoundError, ProcessLookupError):
                continue
    return found
