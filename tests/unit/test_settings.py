"""Settings: the PostgreSQL URL that psycopg and asyncpg both take."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from services.reporting.config import ReportingSettings
from shared.settings import SalesopsSettings, Settings


def test_the_postgres_url_names_a_host_and_port() -> None:
    dsn = Settings(postgres_host="db.internal", postgres_port=6432, postgres_db="sales").postgres_dsn
    assert dsn == "postgresql://postgres@db.internal:6432/sales"


def test_a_host_that_is_a_path_is_the_servers_socket_directory() -> None:
    dsn = Settings(postgres_host="/var/run/postgresql", postgres_db="sales").postgres_dsn
    parts = urlsplit(dsn)
    assert parts.hostname is None and parts.path == "/sales"
    assert parse_qs(parts.query) == {"host": ["/var/run/postgresql"], "port": ["5432"]}


def test_a_password_with_url_characters_survives_the_url() -> None:
    dsn = Settings(postgres_user="sales@ops", postgres_password="p@ss:w/rd?#").postgres_dsn
    parts = urlsplit(dsn)
    assert (unquote(parts.username or ""), unquote(parts.password or "")) == ("sales@ops", "p@ss:w/rd?#")
    assert parts.hostname == "127.0.0.1"


def test_every_settings_class_derives_from_one_root_and_declares_each_field_once() -> None:
    classes = [SalesopsSettings, Settings, ReportingSettings]
    assert all(issubclass(cls, SalesopsSettings) for cls in classes)
    declared = [name for cls in classes for name in cls.__annotations__ if not name.startswith("model_")]
    assert len(declared) == len(set(declared))


def test_reporting_reads_its_own_settings_under_the_common_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALESOPS_REPORTING_HTTP", "false")
    monkeypatch.setenv("SALESOPS_REPORTING_SESSION_IDLE_MINUTES", "5")
    monkeypatch.setenv("SALESOPS_NAMESPACE", "elsewhere")
    loaded = ReportingSettings()
    assert (loaded.reporting_http, loaded.namespace) == (False, "elsewhere")
    assert loaded.session_limits() == (timedelta(minutes=5), timedelta(hours=8))
