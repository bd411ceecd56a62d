"""The deployed layout, without a container engine: the compose file's NATS cluster and users, its settings,
and the services started with the commands compose and the manifests run.

Three ``nats-server`` nodes run from ``deploy/nats/cluster-node*.conf`` and ``cluster-users.conf`` (only
addresses and the store directory are rewritten for loopback); the four services run as separate
processes with ``service_command`` and compose's settings: every NATS URL, their own NATS user,
3 replicas per stream, health/readiness/metrics on a port each, JSON logs. The demo flow then runs as
the ``client`` user, and a correlation id sent with a command is followed into reporting's log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import nats
import pytest
import yaml

from deploy.local.demo import Client, has_rows, reporting_period, traded
from deploy.local.processes import PROCESSES, ROOT, SERVICES, service_command, stopped, wait_ready
from shared.database import drop_database, ensure_database
from shared.settings import Settings
from tests.conftest import made_stream, wait_for

pytestmark = pytest.mark.e2e

NATS_SERVER = Path(sys.executable).parent / "nats-server"
PASSWORDS = {
    user: f"{user}-{uuid.uuid4().hex[:8]}" for user in [*PROCESSES, "client", "integration", "admin"]
}


def free_ports(count: int) -> list[int]:
    """Distinct free ports: every probe stays bound until all are chosen, so none is handed out twice."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def http_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=3) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError:
        return 0, b""


async def until_ok(url: str, what: str, timeout: float = 60.0) -> bytes:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        status, body = await asyncio.to_thread(http_get, url)
        if status == 200:
            return body
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} not ready: {status} {body[:300]!r}")
        await asyncio.sleep(0.3)


@dataclass
class Deployment:
    tmp: Path
    settings: Settings
    nats_urls: list[str] = field(default_factory=list)
    monitor_ports: list[int] = field(default_factory=list)
    metrics_ports: dict[str, int] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: list[IO[bytes]] = field(default_factory=list)

    def log(self, name: str) -> list[str]:
        return (self.tmp / f"{name}.log").read_text(errors="replace").splitlines()

    def start(self, name: str, command: list[str], env: dict[str, str]) -> None:
        out = open(self.tmp / f"{name}.log", "ab")  # noqa: SIM115 - closed in stop()
        self.logs.append(out)
        environment = {**os.environ, **env}
        self.processes[name] = subprocess.Popen(
            command, cwd=ROOT, env=environment, stdout=out, stderr=subprocess.STDOUT
        )

    def stop(self, names: tuple[str, ...] | None = None) -> dict[str, int | None]:
        """SIGTERM (as docker stop / Kubernetes do), the services before the NATS nodes they use."""
        chosen = {n: p for n, p in self.processes.items() if names is None or n in names}
        codes: dict[str, int | None] = {}
        for nats_nodes in (False, True):
            group = {n: p for n, p in chosen.items() if n.startswith("nats") == nats_nodes}
            codes |= dict(zip(group, stopped(*group.values(), timeout=15), strict=True))
        return codes

    def close(self) -> None:
        self.stop()
        for out in self.logs:
            out.close()


def start_cluster(deployment: Deployment) -> None:
    ports = free_ports(9)
    client, cluster, monitor = ports[0:3], ports[3:6], ports[6:9]
    users = (ROOT / "deploy" / "nats" / "cluster-users.conf").read_text()
    (deployment.tmp / "cluster-users.conf").write_text(users)
    env = {f"NATS_{user.upper()}_PASSWORD": password for user, password in PASSWORDS.items()}
    for i in range(3):
        text = (ROOT / "deploy" / "nats" / f"cluster-node{i + 1}.conf").read_text()
        text = text.replace("listen: 0.0.0.0:4222", f"listen: 127.0.0.1:{client[i]}")
        text = text.replace("http: 0.0.0.0:8222", f"http: 127.0.0.1:{monitor[i]}")
        text = text.replace("listen: 0.0.0.0:6222", f"listen: 127.0.0.1:{cluster[i]}")
        text = re.sub(r"nats://nats-(\d):6222", lambda m: f"nats://127.0.0.1:{cluster[int(m[1]) - 1]}", text)
        store = deployment.tmp / f"nats{i + 1}"
        text = text.replace('store_dir: "/data"', f'store_dir: "{store}"')
        path = deployment.tmp / f"cluster-node{i + 1}.conf"
        path.write_text(text)
        deployment.start(f"nats-{i + 1}", [str(NATS_SERVER), "-c", str(path)], env)
    deployment.nats_urls = [f"nats://127.0.0.1:{port}" for port in client]
    deployment.monitor_ports = monitor


def compose_environment(service: str) -> dict[str, str]:
    """The settings docker-compose.yml gives this service (the ones that do not name a host)."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    env = compose["services"][service]["environment"]
    keep = {"SALESOPS_STREAM_REPLICAS", "SALESOPS_NATS_USER"}
    return {key: str(value) for key, value in env.items() if key in keep}


@contextlib.contextmanager
def the_system_deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """The 3-node cluster and every service process, on a database of its own; stopped and dropped after."""
    token = uuid.uuid4().hex[:10]
    settings = Settings(postgres_db=f"salesops_test_{token}")  # own servers: the default namespace
    ensure_database(settings, list(SERVICES))
    deployment = Deployment(tmp_path_factory.mktemp("deployed"), settings)
    try:
        start_cluster(deployment)
        for port in deployment.monitor_ports:
            asyncio.run(until_ok(f"http://127.0.0.1:{port}/healthz?js-enabled-only=true", "nats node"))
        ports = iter(free_ports(2 * len(PROCESSES)))
        for service in PROCESSES:  # the services and the O10 department feeds
            deployment.metrics_ports[service] = next(ports)
            env = {
                **compose_environment(service),
                "SALESOPS_NATS_URL": ",".join(deployment.nats_urls),
                "SALESOPS_NATS_PASSWORD": PASSWORDS[service],
                "SALESOPS_POSTGRES_DB": settings.postgres_db,
                "SALESOPS_METRICS_PORT": str(deployment.metrics_ports[service]),
                "SALESOPS_METRICS_HOST": "127.0.0.1",
                "SALESOPS_HTTP_PORT": str(next(ports)),
                # DEBUG where the correlation id is followed: the command's service and reporting.
                "SALESOPS_LOG_LEVEL": "DEBUG" if service in ("customers", "reporting") else "INFO",
            }
            deployment.start(service, service_command(service), env)
        yield deployment
    finally:
        deployment.close()
        drop_database(settings)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    with the_system_deployed(tmp_path_factory) as deployment:
        yield deployment


async def until_ready(deployment: Deployment) -> None:
    for service in PROCESSES:
        await until_ok(f"http://127.0.0.1:{deployment.metrics_ports[service]}/readyz", f"{service} readiness")


@pytest.fixture(scope="module")
async def client(deployed: Deployment) -> AsyncIterator[Client]:
    await until_ready(deployed)
    nc = await nats.connect(servers=deployed.nats_urls, user="client", password=PASSWORDS["client"])
    for service in SERVICES:  # answered through the node this client is on (interest crosses the routes)
        await wait_ready(nc, "salesops", service)
    yield Client(nc, "salesops", timeout=15.0)
    await nc.close()


async def test_services_on_the_compose_cluster_are_ready_and_keep_three_replicas(
    deployed: Deployment, client: Client
) -> None:
    for service in PROCESSES:
        status, body = await asyncio.to_thread(
            http_get, f"http://127.0.0.1:{deployed.metrics_ports[service]}/readyz"
        )
        assert status == 200 and json.loads(body)["checks"], body
    admin = await nats.connect(servers=deployed.nats_urls, user="admin", password=PASSWORDS["admin"])
    try:
        for service in ("customers", "orders", "complaints"):
            info = await made_stream(admin.jetstream(), f"SALESOPS_{service.upper()}")
            assert info.config.num_replicas == 3
    finally:
        await admin.close()


async def test_the_flow_runs_and_a_correlation_id_reaches_reporting_log_and_metrics(
    deployed: Deployment, client: Client
) -> None:
    demo = await traded(client, datetime.now(UTC).year)
    correlation = f"e2e-{uuid.uuid4().hex[:8]}"
    reply = await client.send(
        "customers",
        "cmd",
        "suspend_customer",
        {
            "actor": {"id": "rm-chen", "role": "regional_manager"},
            "customer_id": demo.branch_id,
            "reason": "channel review",
            "correlation_id": correlation,
        },
    )
    assert reply["ok"], reply
    period = reporting_period(datetime.now(UTC))
    query = {"period": period, "customer_id": demo.dealer_id}
    await client.until("reporting", "distributor_monthly", query, has_rows, timeout=60)

    async def logged() -> bool:
        for line in deployed.log("reporting"):
            entry = json.loads(line)
            if correlation in entry.get("correlation_ids", []):
                return True
        return False

    deadline = asyncio.get_running_loop().time() + 30
    while not await logged():
        assert asyncio.get_running_loop().time() < deadline, f"{correlation} not in reporting's log"
        await asyncio.sleep(0.3)
    handled = [json.loads(line) for line in deployed.log("customers") if correlation in line]
    assert any(e.get("correlation_id") == correlation for e in handled), handled

    # The orders stream is consumed apart from the customers one, so its events may come later: on a fresh
    # cluster, reporting's orders consumer was seen to get them only when its first pull expired (~1 s).
    orders_position = re.compile(r'salesops_projection_position\{service="reporting",source="orders"\} [1-9]')
    text = ""

    async def orders_applied() -> bool:
        nonlocal text
        _, metrics = await asyncio.to_thread(
            http_get, f"http://127.0.0.1:{deployed.metrics_ports['reporting']}/metrics"
        )
        text = metrics.decode()
        return orders_position.search(text) is not None

    await wait_for(orders_applied, timeout=30, every=0.3)
    assert 'salesops_consumer_lag{durable="reporting-orders"' in text
    _, metrics = await asyncio.to_thread(
        http_get, f"http://127.0.0.1:{deployed.metrics_ports['customers']}/metrics"
    )
    assert re.search(r'salesops_commands_total\{[^}]*name="suspend_customer"[^}]*\} 1', metrics.decode())
    _, metrics = await asyncio.to_thread(
        http_get, f"http://127.0.0.1:{deployed.metrics_ports['orders']}/metrics"
    )
    assert (
        'salesops_consumer_lag{durable="orders-customers",service="orders",stream="SALESOPS_CUSTOMERS"}'
        in (metrics.decode())
    )


async def test_dead_letter_depth_counts_a_parked_message(deployed: Deployment, client: Client) -> None:
    admin = await nats.connect(servers=deployed.nats_urls, user="admin", password=PASSWORDS["admin"])
    try:
        await admin.jetstream().publish("salesops.orders.events.NotAnEnvelope", b"{}")
    finally:
        await admin.close()
    url = f"http://127.0.0.1:{deployed.metrics_ports['reporting']}/metrics"
    parked = 'salesops_dead_letters{durable="reporting-orders",service="reporting"} 1.0'
    deadline = asyncio.get_running_loop().time() + 30
    while parked not in (await asyncio.to_thread(http_get, url))[1].decode():
        assert asyncio.get_running_loop().time() < deadline, "the parked message is not counted"
        await asyncio.sleep(0.3)


def test_services_stop_cleanly_on_sigterm_and_log_only_json_lines(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # A deployment of its own: stopping the module's would leave the tests that run after it (in random
    # order) without services.
    with the_system_deployed(tmp_path_factory) as deployment:
        asyncio.run(until_ready(deployment))
        codes = deployment.stop(PROCESSES)
        assert codes == dict.fromkeys(PROCESSES, 0)
        # Every line, the shutdown's included, is one JSON object naming the service.
        for service in PROCESSES:
            entries = [json.loads(line) for line in deployment.log(service)]
            assert entries and all(e["service"] == service for e in entries)
