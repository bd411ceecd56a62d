"""Issue 29: the image built from deploy/Dockerfile with podman and the compose topology run as it ships
(docker-compose.yml, offline through docker-compose.offline.yml): every service from that image with the
compose file's commands, health checks and NATS users, the 3-node JetStream cluster, Prometheus scraping
every service with the alerting rules loaded, the e2e flow driven through it, and one NATS node killed
mid-flow without losing an acknowledged command."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import nats.errors
import pytest
import yaml

from deploy.containers.topology import APP_SERVICES, COMPOSE_FILES, NATS_NODES, Topology
from deploy.local.demo import Client, application, complain, has_rows, reporting_period, traded
from deploy.ops.checks import until_reconciled
from tests.conftest import made_stream
from tests.containers.conftest import HEALTHY_WITHIN, Running, needs_podman

pytestmark = [pytest.mark.e2e, needs_podman]

WAVE = 15  # registrations before, during and after the NATS node is down


def compose_services() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load(COMPOSE_FILES[0].read_text())["services"]
    return services


def http_json(url: str, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as reply:
        return json.loads(reply.read())


def test_every_service_runs_from_the_image_with_the_compose_commands_users_and_health_checks(
    running: Running,
) -> None:
    print(f"\nimages ready in {running.images.seconds:.0f} s; topology healthy in {running.up_seconds:.0f} s")
    declared = compose_services()
    for service in APP_SERVICES:
        config: Any = running.topology.inspect(service)["Config"]
        assert config["Image"] == running.images.salesops, service
        assert config["Cmd"] == declared[service]["command"], service
        assert config["User"] == "65534:65534", service  # the image's unprivileged user
        assert config["Healthcheck"]["Test"] == ["CMD", *declared[service]["healthcheck"]["test"][1:]], (
            service
        )
        assert running.topology.check_health(service), running.topology.logs(service)
    # Each service is connected to the cluster as its own NATS user (cluster-users.conf).
    connected: set[str] = set()
    for node in NATS_NODES:
        connz = http_json(f"http://{running.topology.address(node)}:8222/connz?auth=true")
        connected |= {c.get("authorized_user") for c in connz.get("connections") or []}
    assert set(APP_SERVICES) <= connected, connected


async def test_the_cluster_keeps_three_replicas_of_every_event_stream(running: Running) -> None:
    admin = await running.connect("admin")
    try:
        for service in ("customers", "orders", "complaints", "field"):
            info = await made_stream(admin.jetstream(), f"SALESOPS_{service.upper()}")
            assert info.config.num_replicas == 3, service
            assert len(info.cluster.replicas or []) == 2, info.cluster  # the leader and two followers
    finally:
        await admin.close()


async def test_prometheus_scrapes_every_service_and_loads_the_alerting_rules(running: Running) -> None:
    prometheus = f"http://{running.topology.address('prometheus')}:9090"
    config: Any = running.topology.inspect("prometheus")["Config"]
    assert config["Image"] == running.images.prometheus

    def targets_up() -> dict[str, str]:
        targets = http_json(f"{prometheus}/api/v1/targets?state=active")["data"]["activeTargets"]
        return {target["labels"]["component"]: target["health"] for target in targets}

    # A target is "unknown" until its first scrape (the scrape interval is 15 s).
    deadline = time.monotonic() + 90
    while (health := await asyncio.to_thread(targets_up)) != dict.fromkeys(APP_SERVICES, "up"):
        assert time.monotonic() < deadline, health
        await asyncio.sleep(2)
    # What it scraped is the services' own metrics, of every service (a command counter has no series
    # before the first command, so any of the services' metrics is asked for).
    query = urlencode({"query": 'count by (component) ({__name__=~"salesops_.+"})'})
    series = (await asyncio.to_thread(http_json, f"{prometheus}/api/v1/query?{query}"))["data"]["result"]
    assert {s["metric"]["component"] for s in series} == set(APP_SERVICES), series
    rules = (await asyncio.to_thread(http_json, f"{prometheus}/api/v1/rules"))["data"]["groups"]
    loaded = {rule["name"] for group in rules for rule in group["rules"]}
    expected = yaml.safe_load((COMPOSE_FILES[0].parent / "deploy/prometheus/alerts.yml").read_text())
    assert loaded == {rule["alert"] for group in expected["groups"] for rule in group["rules"]}


async def test_the_flow_through_the_containers_reaches_reporting_and_its_http_api(
    running: Running, client: Client
) -> None:
    demo = await traded(client, datetime.now(UTC).year)
    await complain(client, demo)
    expected = {"orders": 1, "ordered_amount": "12000.00", "service_complaints": 1, "fines": "150.00"}

    def converged(answer: dict[str, Any]) -> bool:
        return has_rows(answer) and all(answer["result"]["rows"][0].get(k) == v for k, v in expected.items())

    query = {"period": reporting_period(datetime.now(UTC)), "customer_id": demo.dealer_id}
    answer = await client.until("reporting", "distributor_monthly", query, converged, timeout=90)
    assert answer["result"]["rows"][0]["code"] == demo.dealer_code
    # The same report from reporting's HTTP API (the dashboard's server), on the port compose gives it.
    address = running.topology.address("reporting")
    url = f"http://{address}:8080/api/reports/distributor-monthly?{urlencode(query)}"
    served = await asyncio.to_thread(http_json, url, running.reporting_token)
    assert served["result"]["rows"] == answer["result"]["rows"]


async def register(client: Client, number: int) -> str | None:
    """A prospect's id once the command is acknowledged; None when no answer came (it may or may not
    have been stored: reconciliation covers those). "No responders" means no service got it (one is
    reconnecting to another node), so it is sent again, as a client would."""
    body = application("dealer", f"容灾演练贸易公司{number}", "EAST")
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        try:
            answer = await client.send("customers", "cmd", "register_prospect", body)
            break
        except nats.errors.NoRespondersError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)
        except nats.errors.TimeoutError:
            return None
    assert answer["ok"], answer
    customer_id: str = answer["result"]["customer_id"]
    return customer_id


async def test_killing_the_stream_leaders_nats_node_mid_flow_loses_no_acknowledged_command(
    running: Running, client: Client
) -> None:
    topology: Topology = running.topology
    admin = await running.connect("admin")
    try:
        leader = (await made_stream(admin.jetstream(), "SALESOPS_CUSTOMERS")).cluster.leader
    finally:
        await admin.close()
    assert leader in NATS_NODES, leader

    before = [await register(client, n) for n in range(WAVE)]
    in_flight = [asyncio.create_task(register(client, WAVE + n)) for n in range(WAVE)]
    await asyncio.sleep(0.05)
    killed_at = time.monotonic()
    topology.kill(leader)  # kill -9 of the node leading the customers stream, commands in flight
    try:
        during = await asyncio.gather(*in_flight)
        # The services have moved to the other nodes once their health checks pass again (a command sent
        # while one still reconnects may time out: it is among "during", checked by reconciliation).
        await asyncio.to_thread(topology.wait_healthy, APP_SERVICES, HEALTHY_WITHIN)
        after = [await register(client, 2 * WAVE + n) for n in range(WAVE)]
        assert None not in before and None not in after, (before, after)
        acknowledged = [c for c in [*before, *during, *after] if c is not None]

        for customer_id in acknowledged:
            found = await client.query(
                "customers",
                "get_customer",
                {"actor": {"id": "fin-zhao", "role": "finance"}, "customer_id": customer_id},
            )
            assert found["ok"], found
        # Reporting holds exactly what every store holds: nothing lost on the way, nothing counted twice.
        reports = await until_reconciled(running.settings(), timeout=120)
        assert all(report.equal for report in reports), [report.to_json() for report in reports]
        took = time.monotonic() - killed_at
        print(f"\n{len(acknowledged)} acknowledged, reconciled {took:.0f} s after the kill")
    finally:  # the node rejoins, whatever the checks found: the module's other tests need the cluster whole
        topology.start(leader)
        topology.wait_healthy((leader,), HEALTHY_WITHIN)
