"""A fresh machine in a container: minimal Debian bookworm with only ``python3`` and ``git``, as a new user
would have it, to run the README's two commands on (issue 31).

The image is built once from Debian's own packages (``debootstrap`` from this machine's Debian mirror,
then ``podman import``) and kept as ``IMAGE``; each run starts a container from it with a clone of the
commit under test. pip's downloads are kept between runs (its cache, safe to share, under ``CACHE``):
every run still installs everything, only faster.
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from deploy.images import CACHE, LIMITS, PODMAN, ensure_debian_image
from shared.retry import poll_blocking

IMAGE = "localhost/salesops-fresh:bookworm-min"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"  # the registries are reached only with this machine's CAs
# Where the container sees it: beside, not over, the bundle its own ca-certificates package writes.
CONTAINER_CA_BUNDLE = "/usr/local/share/salesops-host-ca.crt"
WORKDIR = "/root/salesops"


def ensure_image() -> None:
    """Build ``IMAGE`` unless it exists (once per machine)."""
    ensure_debian_image(IMAGE, ["python3", "git"])


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
