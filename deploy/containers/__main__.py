"""``python -m deploy.containers images|up|down``: the offline topology by hand (docs/operations.md,
"Containers"). ``images`` builds (or finds) the three images and prints the variables the compose files
read; ``up`` also runs ``podman-compose up`` of docker-compose.yml with docker-compose.offline.yml as the
project ``salesops`` (passwords from the environment or compose's defaults, ports as compose publishes
them) and waits for every health check; ``down`` removes that project's containers (volumes are kept)."""

from __future__ import annotations

import sys

from deploy.containers.images import ensure_images
from deploy.containers.topology import SERVICES, Topology

PROJECT = "salesops"
HEALTHY_WITHIN = 300.0


def main(argv: list[str]) -> int:
    command = argv[0] if argv else ""
    if command == "down":
        Topology(PROJECT, {}).compose("down", "--timeout", "10")
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
