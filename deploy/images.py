"""Container images from Debian's own packages, for machines that reach Debian's archive but no container
registry (STACK_NOTES.md, "Containers on these machines"): ``debootstrap`` from this machine's Debian
mirror, then ``podman import``. Built once per machine and kept by tag; runs that start together wait for
one build. Used by the fresh-machine test (deploy/fresh/) and the image tests (deploy/containers/)."""

from __future__ import annotations

import fcntl
import hashlib
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

PODMAN = ["podman", "--runtime", "runc"]  # crun fails on this kernel's hybrid cgroups (STACK_NOTES.md)
LIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]  # else setrlimit fails
CACHE = Path("/var/cache/salesops-fresh")  # locks and pip's downloads, kept between runs
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


def image_exists(image: str) -> bool:
    return subprocess.run([*PODMAN, "image", "exists", image]).returncode == 0


def ensure_debian_image(image: str, packages: list[str]) -> None:
    """Build ``image``, minimal Debian bookworm with ``packages``, unless it exists."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "image.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if image_exists(image):
            return
        print(f"[salesops] building {image} from Debian's packages (once; a few minutes)", flush=True)
        with tempfile.TemporaryDirectory(prefix="salesops-image-", dir="/var/tmp") as tmp:
            root = Path(tmp, "root")
            subprocess.run(
                [
                    "debootstrap",
                    "--variant=minbase",
                    f"--include={','.join(packages)}",
                    "bookworm",
                    str(root),
                    debian_mirror(),
                ],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
            subprocess.run(
                [*PODMAN, "import", "--quiet", "-", image],
                stdin=tar.stdout,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            if tar.wait() != 0:
                raise RuntimeError("tar of the debootstrapped root failed")


# The base of the offline images: Debian's python3.11 and its venv module (deploy/Dockerfile's BASE here).
BASE_IMAGE = "localhost/salesops-base:bookworm"
HOST_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"  # registries are reached only with this machine's CAs
BUILD_CA_BUNDLE = "/usr/local/share/salesops-host-ca.crt"
KEEP_BUILDS = 3  # images kept of each repository (tests of older commits may still run theirs)
IGNORED = {"__pycache__", "node_modules", ".mypy_cache", ".ruff_cache"}


def ensure_base_image() -> None:
    ensure_debian_image(BASE_IMAGE, ["python3", "python3-venv", "ca-certificates"])


def content_hash(root: Path, inputs: list[str], build_args: dict[str, str]) -> str:
    """Of every file an image is built from (``inputs``: files and folders under ``root``) and its build
    arguments: the same hash means the same image, so a rerun reuses it without building."""
    digest = hashlib.sha256()
    for name, value in sorted(build_args.items()):
        digest.update(f"arg {name}={value}\n".encode())
    for top in sorted(inputs):
        path = root / top
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in files:
            relative = file.relative_to(root)
            if IGNORED.intersection(relative.parts):
                continue
            digest.update(f"file {relative} {file.stat().st_mode & 0o111:o}\n".encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def ensure_built(
    repository: str, dockerfile: str, root: Path, inputs: list[str], build_args: dict[str, str]
) -> str:
    """``repository:<content hash>`` built from ``dockerfile`` with ``root`` as the context, unless an image
    of that tag exists; its name. Builds reach PyPI through this machine's CAs, mounted for the build only."""
    image = f"{repository}:{content_hash(root, [dockerfile, *inputs], build_args)}"
    CACHE.mkdir(parents=True, exist_ok=True)
    with (
        open(CACHE / "build.lock", "w") as lock,
        tempfile.TemporaryDirectory(prefix="salesops-build-") as tmp,
    ):
        fcntl.flock(lock, fcntl.LOCK_EX)
        if image_exists(image):
            return image
        pip_conf = Path(tmp, "pip.conf")
        pip_conf.write_text(f"[global]\ncert = {BUILD_CA_BUNDLE}\n")
        arguments = [f"--build-arg={name}={value}" for name, value in build_args.items()]
        built = subprocess.run(
            [
                *PODMAN, "build", *LIMITS, "--layers", "--file", str(root / dockerfile), "--tag", image,
                "--volume", f"{HOST_CA_BUNDLE}:{BUILD_CA_BUNDLE}:ro",
                "--volume", f"{pip_conf}:/etc/pip.conf:ro",
                *arguments, str(root),
            ],
            capture_output=True,
            text=True,
        )  # fmt: skip
        if built.returncode != 0:
            raise RuntimeError(
                f"podman build of {dockerfile} failed:\n{(built.stdout + built.stderr)[-4000:]}"
            )
        remove_older(repository, keep=KEEP_BUILDS)
        return image


def remove_older(repository: str, keep: int) -> None:
    """All but the newest ``keep`` images of ``repository``: every change of code builds one, and the
    machine's disk would fill. One a container still uses stays (podman refuses to remove it)."""
    listed = subprocess.run(
        [*PODMAN, "images", "--sort", "created", "--format", "{{.Repository}}:{{.Tag}}", repository],
        capture_output=True,
        text=True,
    ).stdout.split()
    for old in listed[keep:]:
        subprocess.run([*PODMAN, "rmi", old], capture_output=True)
