# PostgreSQL 15 from Debian's packages, standing in for the postgres:15 image where no registry can give it
# (docker-compose.offline.yml). The same contract as that image for what docker-compose.yml uses:
# POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB, scripts in /docker-entrypoint-initdb.d on the first
# start, data in /var/lib/postgresql/data, `postgres ...` as the command, pg_isready for the health check.
ARG BASE=debian:bookworm-slim
FROM ${BASE}
# Only the server: Debian's package would otherwise create and start a cluster of its own.
# The suite (bookworm) pins the release; its security updates are wanted, so no exact package versions.
# hadolint ignore=DL3008
RUN mkdir -p /etc/postgresql-common \
    && echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf \
    && apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 \
    && rm -rf /var/lib/apt/lists/*
ENV PATH=/usr/lib/postgresql/15/bin:$PATH \
    PGDATA=/var/lib/postgresql/data
COPY deploy/containers/postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
VOLUME /var/lib/postgresql/data
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
