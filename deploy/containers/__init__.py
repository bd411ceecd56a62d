"""salesops in real containers: its image (deploy/Dockerfile) and the compose topology run with podman,
offline, through docker-compose.offline.yml (NATS and PostgreSQL images built from Debian's packages and
the nats-server wheel). docs/operations.md, "Containers"."""
