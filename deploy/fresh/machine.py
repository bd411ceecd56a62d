"""A fresh machine in a container: minimal Debian bookworm with only ``python3`` and ``git``, as a new user
would have it, to run the README's two commands on (issue 31).

The image is built once from Debian's own packages (``debootstrap`` from this machine's Debian mirror,
then ``podman import``) and kept as ``IMAGE``; each run starts a container from it with a clone of the
commit under test. pip's downloads are kept between runs (its cache, safe to share, under ``CACHE``):
every run still installs everything, only faster.
"""

from __future__ import annotations

import contextlib
import fcntl
import re
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from shared.retry import poll_blocking

IMAGE = "localhost/salesops-fresh:bookworm-min"
PODMAN = ["podman", "--runtime", "runc"]  # crun fails on this kernel's hybrid cgroups (STACK_NOTES.md)
LIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]  # else setrlimit fails
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"  # the registries are reached only with this machine's CAs
# Where the container sees it: beside, not over, the bundle its own ca-certificates package writes.
CONTAINER_CA_BUNDLE = "/usr/local/share/salesops-host-ca.crt"
CACHE = Path("/var/cache/salesops-fresh")
WORKDIR = "/root/salesops"
DEFAULT_MIRROR = "http://deb.debian.org/debian"


def podman_unavailable() -> str | None:
    """Why no container can run here at all, or None when podman works."""
    if Path("/run/.containerenv").exists():
        return "this is itself a container (no nested containers)"
    if shutil.which("podman") is None:
        return "podman is not installed (`apt-get install podman runc debootstrap`)"
    probe = subprocess.run([*PODMAN, "info"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"`podman info` failed: {(probe.stderr.strip().splitlines() or ['no message'])[-1]}"
    return None


def debian_mirror(sources: Path = Path("/etc/apt")) -> str:
    """The Debian archive this machine's apt uses (deb822 ``URIs:`` or one-line ``deb`` entries)."""
    files = sorted([*sources.glob("sources.list"), *sources.glob("sources.list.d/*")])
    for file in files:
        for line in file.read_text().splitlines():
            found = re.match(r"\s*(?:URIs:|deb)\s+(?:\[[^]]*\]\s+)?(\S+)", line)
            if found and re.search(r"/debian/?$", found.group(1)):
                return found.group(1).rstrip("/")
    return DEFAULT_MIRROR


def ensure_image() -> None:
    """Build ``IMAGE`` unless it exists (once per machine; runs starting together wait for one build)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "image.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if subprocess.run([*PODMAN, "image", "exists", IMAGE]).returncode == 0:
            return
        print(f"[salesops] building {IMAGE} from Debian's packages (once; a few minutes)", flush=True)
        with tempfile.TemporaryDirectory(prefix="salesops-image-", dir="/var/tmp") as tmp:
            root = Path(tmp, "root")
            subprocess.run(
                [
                    "debootstrap",
                    "--variant=minbase",
                    "--include=python3,git",
                    "bookworm",
                    str(root),
                    debian_mirror(),
                ],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
            subprocess.run(
                [*PODMAN, "import", "--quiet", "-", IMAGE],
                stdin=tar.stdout,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            if tar.wait() != 0:
                raise RuntimeError("tar of the debootstrapped root failed")


def head_commit(repo: Path) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()


@dataclass
class FreshMachine:
    """A running container of ``IMAGE`` with the clone of ``commit`` in ``WORKDIR``."""

    name: str
    commit: str

    def output(self) -> str:
        shown = subprocess.run([*PODMAN, "logs", self.name], capture_output=True, text=True)
        return shown.stdout + shown.stderr

    def running(self) -> bool:
        state = subprocess.run(
            [*PODMAN, "inspect", "--format", "{{.State.Running}}", self.name], capture_output=True, text=True
        )
        return state.stdout.strip() == "true"

    def wait_for(self, marker: str, timeout: float) -> str:
        """Its output once ``marker`` is in it; AssertionError if it stops or the time is up first."""

        def shown_while_running() -> str:
            shown = self.output()
            if marker not in shown and not self.running():
                raise AssertionError(f"stopped before printing {marker!r}:\n{shown[-4000:]}")
            return shown

        shown = poll_blocking(shown_while_running, lambda out: marker in out, timeout=timeout, every=2)
        if marker not in shown:
            raise AssertionError(f"no {marker!r} after {timeout:.0f} s:\n{shown[-4000:]}")
        return shown

    def wait(self, timeout: float) -> int:
        """Its command's exit code, once it has ended (TimeoutExpired after ``timeout`` seconds)."""
        ended = subprocess.run(
            [*PODMAN, "wait", self.name], check=True, capture_output=True, text=True, timeout=timeout
        )
        return int(ended.stdout.strip())

    def exec(self, *command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*PODMAN, "exec", "-w", WORKDIR, self.name, *command], capture_output=True, text=True, timeout=120
        )


@contextlib.contextmanager
def fresh_machine(repo: Path, *command: str) -> Iterator[FreshMachine]:
    """A container of ``IMAGE`` running ``command`` in a clone of ``repo``'s HEAD (committed work only),
    removed afterwards with the clone."""
    commit = head_commit(repo)
    (CACHE / "pip").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="salesops-fresh-", dir="/var/tmp") as tmp:
        clone = Path(tmp, "salesops")
        subprocess.run(["git", "clone", "--quiet", "--no-checkout", str(repo), str(clone)], check=True)
        subprocess.run(["git", "-C", str(clone), "checkout", "--quiet", commit], check=True)
        name = f"salesops-fresh-{uuid.uuid4().hex[:8]}"
        subprocess.run(
            [
                *PODMAN, "run", "--detach", "--name", name, *LIMITS, "--shm-size=512m",
                "-v", f"{clone}:{WORKDIR}",
                "-v", f"{CA_BUNDLE}:{CONTAINER_CA_BUNDLE}:ro",
                "-v", f"{CACHE / 'pip'}:/root/.cache/pip",
                "-e", f"PIP_CERT={CONTAINER_CA_BUNDLE}", "-e", f"SSL_CERT_FILE={CONTAINER_CA_BUNDLE}",
                "-w", WORKDIR, IMAGE, *command,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            yield FreshMachine(name, commit)
        finally:
            subprocess.run([*PODMAN, "rm", "--force", "--time", "5", name], capture_output=True)
