"""``python -m deploy.containers images|up|down|kube-play|kube-down``: the offline topology by hand
(docs/operations.md, "Containers"). ``images`` builds (or finds) the four images and prints the variables
the compose files read; ``up`` also runs ``podman-compose up`` of docker-compose.yml with
docker-compose.offline.yml as the project ``salesops`` (passwords from the environment or compose's
defaults, ports as compose publishes them) and waits for every health check; ``down`` removes that
project's containers (volumes are kept). ``kube-play`` writes deploy/k8s/ as podman 4.3's kube play runs it
(.state/kube/play.yml; the Secret's and the settings' values from the environment where set there), plays
it on the network ``salesops`` and waits for every readiness probe; ``kube-down`` removes its pods, volumes
and network."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from deploy.containers.images import ensure_images
from deploy.containers.kube import Adjustments, KubeImages, kube_play_file, manifests, written_play
from deploy.containers.topology import ROOT, SERVICES, Topology

PROJECT = "salesops"
HEALTHY_WITHIN = 300.0
KUBE_FILE = ROOT / ".state" / "kube" / "play.yml"


def from_environment(kind: str, name: str) -> dict[str, str]:
    """The values of the manifests' ``kind`` ``name`` that this process's environment sets."""
    (document,) = [d for d in manifests() if d["kind"] == kind and d["metadata"]["name"] == name]
    keys = document.get("stringData") or document["data"]
    return {key: os.environ[key] for key in keys if key in os.environ}


def kube_play(path: Path) -> None:
    images = ensure_images()
    path.parent.mkdir(parents=True, exist_ok=True)
    adjust = Adjustments(
        secrets=from_environment("Secret", "salesops-secrets"),
        settings=from_environment("ConfigMap", "salesops-settings"),
    )
    play = kube_play_file(path, KubeImages(images.salesops, images.nats, images.postgres), adjust)
    play.play()
    play.wait_ready(HEALTHY_WITHIN)
    print(f"# ready: {', '.join(play.pods())} on the podman network {play.network} ({path})")


def main(argv: list[str]) -> int:
    command = argv[0] if argv else ""
    if command == "down":
        Topology(PROJECT, {}).compose("down", "--timeout", "10")
        return 0
    if command == "kube-play":
        kube_play(KUBE_FILE)
        return 0
    if command == "kube-down":
        written_play(KUBE_FILE).down()
        return 0
    if command not in ("images", "up"):
        print(__doc__, file=sys.stderr)
        return 2
    images = ensure_images()
    environment = images.compose_environment()
    for name, value in environment.items():
        print(f"export {name}={value}")
    if command == "up":
        topology = Topology(PROJECT, environment)
        topology.up()
        topology.wait_healthy(SERVICES, HEALTHY_WITHIN)
        print(
            f"# healthy: {', '.join(SERVICES)}; NATS on :4222, reporting and the dashboard on :8080, "
            "Prometheus on :9090"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
