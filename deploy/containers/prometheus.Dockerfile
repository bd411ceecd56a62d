# Prometheus from Debian's package, standing in for the prom/prometheus image where no registry can give it
# (docker-compose.offline.yml). The same contract as that image for what docker-compose.yml uses:
# `prometheus` is the entry point, so compose's command is its arguments; data in /prometheus, written by
# user nobody; wget for compose's health check.
ARG BASE=debian:bookworm-slim
FROM ${BASE}
# The suite (bookworm) pins the release; its security updates are wanted, so no exact package versions.
# hadolint ignore=DL3008
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus wget \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /prometheus \
    && chown 65534:65534 /prometheus
USER 65534:65534
WORKDIR /prometheus
VOLUME /prometheus
EXPOSE 9090
ENTRYPOINT ["prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
