"""The ops stack: Prometheus scrape config and alerting rules (checked and unit-tested with ``promtool``),
the Grafana dashboard and their provisioning in docker-compose.yml, all on the metrics the services export.

``promtool`` comes from Debian's ``prometheus`` package (``./salesops test`` installs it); without it the
promtool tests are skipped, the others still run.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.local.processes import SERVICES
from shared.observability import ServiceMetrics

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "salesops.json"
COMPOSE = ROOT / "docker-compose.yml"
METRICS_PORT = "9100"

SAMPLE_SUFFIXES = {
    "counter": ["_total", "_created"],
    "gauge": [""],
    "histogram": ["_bucket", "_sum", "_count", "_created"],
}


def exported_metric_names() -> set[str]:
    """Every sample name a service's /metrics can show, from the registry the services use, and ``up``
    (Prometheus's own per target)."""
    names = {"up"}
    for family in ServiceMetrics("any").registry.collect():
        names |= {family.name + suffix for suffix in SAMPLE_SUFFIXES[family.type]}
    return names


def metrics_in(expr: str) -> set[str]:
    found = set(re.findall(r"\bsalesops_\w+", expr))
    if re.search(r"\bup\s*\{", expr):
        found.add("up")
    return found


def yaml_file(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in yaml_file(PROMETHEUS / "alerts.yml")["groups"] for rule in group["rules"]]


def panel_exprs() -> dict[str, list[str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    return {panel["title"]: [target["expr"] for target in panel["targets"]] for panel in dashboard["panels"]}


def compose_services() -> dict[str, Any]:
    services: dict[str, Any] = yaml_file(COMPOSE)["services"]
    return services


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool missing: apt-get install prometheus (Debian; ./salesops test installs it)")
    return found


def run(promtool: str, *args: str, cwd: Path = PROMETHEUS) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_scrape_config_and_its_alerting_rules_pass_promtool_check(promtool: str) -> None:
    result = run(promtool, "check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rule files found" in result.stdout


def test_alerting_rules_pass_their_promtool_unit_tests(promtool: str) -> None:
    result = run(promtool, "test", "rules", "alerts.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_rule_unit_tests_fail_when_an_alert_threshold_is_changed(promtool: str, tmp_path: Path) -> None:
    copy = tmp_path / "prometheus"
    shutil.copytree(PROMETHEUS, copy)
    rules = copy / "alerts.yml"
    rules.write_text(rules.read_text().replace("> 0.01", "> 0.10"))
    result = run(promtool, "test", "rules", "alerts.test.yml", cwd=copy)
    assert result.returncode != 0
    assert "SalesopsErrorRate" in result.stdout + result.stderr


def test_every_alert_has_a_rule_unit_test_that_expects_it_to_fire() -> None:
    tests = yaml_file(PROMETHEUS / "alerts.test.yml")["tests"]
    firing = {case["alertname"] for test in tests for case in test["alert_rule_test"] if case["exp_alerts"]}
    assert {rule["alert"] for rule in alert_rules()} == firing


def test_alerting_rules_use_only_metrics_the_services_export() -> None:
    exported = exported_metric_names()
    for rule in alert_rules():
        used = metrics_in(rule["expr"])
        assert used, rule["alert"]
        assert used <= exported, (rule["alert"], used - exported)


def test_alerts_cover_lag_backlog_dead_letters_targets_errors_and_unsigned_periods() -> None:
    used = set().union(*(metrics_in(rule["expr"]) for rule in alert_rules()))
    assert {
        "up",
        "salesops_consumer_lag",
        "salesops_outbox_backlog",
        "salesops_dead_letters",
        "salesops_commands_total",
        "salesops_report_periods_unsigned",
    } <= used


def test_scrape_config_scrapes_every_service_of_the_compose_file_on_its_metrics_port() -> None:
    config = yaml_file(PROMETHEUS / "prometheus.yml")
    (job,) = config["scrape_configs"]
    targets = {target for static in job["static_configs"] for target in static["targets"]}
    assert targets == {f"{service}:{METRICS_PORT}" for service in SERVICES}
    services = compose_services()
    assert all(services[s]["environment"]["SALESOPS_METRICS_PORT"] == METRICS_PORT for s in SERVICES)
    (service_down,) = [rule for rule in alert_rules() if rule["alert"] == "SalesopsServiceDown"]
    assert service_down["expr"].startswith(f'up{{job="{job["job_name"]}"}}')


def test_dashboard_panels_query_only_exported_metrics() -> None:
    exported = exported_metric_names()
    for title, exprs in panel_exprs().items():
        assert exprs, title
        for expr in exprs:
            used = metrics_in(expr)
            assert used and used <= exported, (title, expr, used - exported)


def test_every_metric_an_alert_watches_has_a_dashboard_panel() -> None:
    on_dashboard = set().union(*(metrics_in(e) for exprs in panel_exprs().values() for e in exprs))
    for rule in alert_rules():
        assert metrics_in(rule["expr"]) <= on_dashboard, rule["alert"]


def test_dashboard_panels_use_the_provisioned_datasource() -> None:
    (datasource,) = yaml_file(GRAFANA / "provisioning" / "datasources" / "prometheus.yml")["datasources"]
    dashboard = json.loads(DASHBOARD.read_text())
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == datasource["uid"], panel["title"]
    assert datasource["url"] == "http://prometheus:9090"


def test_compose_provisions_prometheus_and_grafana_with_these_files() -> None:
    services = compose_services()
    assert "./deploy/prometheus:/etc/prometheus:ro" in services["prometheus"]["volumes"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in services["prometheus"]["command"]
    grafana = services["grafana"]["volumes"]
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in grafana
    (provider,) = yaml_file(GRAFANA / "provisioning" / "dashboards" / "salesops.yml")["providers"]
    assert f"./deploy/grafana/dashboards:{provider['options']['path']}:ro" in grafana


def dashboard_rules(exprs: list[str]) -> str:
    """The dashboard's queries as recording rules: ``promtool check rules`` then parses each as PromQL (no
    Grafana runs offline here to load the dashboard itself: docs/operations.md)."""
    rules = [{"record": f"salesops:panel_query_{n}", "expr": expr} for n, expr in enumerate(exprs)]
    return yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]})


def test_every_dashboard_query_is_valid_promql(promtool: str, tmp_path: Path) -> None:
    exprs = [expr for exprs in panel_exprs().values() for expr in exprs]
    (tmp_path / "dashboard.yml").write_text(dashboard_rules(exprs))
    result = run(promtool, "check", "rules", "dashboard.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in result.stdout
    (tmp_path / "broken.yml").write_text(dashboard_rules(["sum(rate(salesops_commands_total[5m])"]))
    assert run(promtool, "check", "rules", "broken.yml", cwd=tmp_path).returncode != 0


def test_dashboard_panels_fit_the_grid_without_overlapping() -> None:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    cells: dict[tuple[int, int], str] = {}
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]  # Grafana's 24 columns
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, (panel["title"], cells.get((x, y)))
                cells[x, y] = panel["title"]
