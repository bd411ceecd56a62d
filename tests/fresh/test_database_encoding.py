"""A database that is not UTF-8 (what a locale-less ``initdb`` makes: SQL_ASCII) is refused by every
service at start, with one line saying what to do, and nothing is created in it (issue 31)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from shared.database import DatabaseNotUtf8, admin_connection, drop_database
from shared.settings import Settings
from tests.conftest import SERVICES, unique_settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sql_ascii() -> Iterator[Settings]:
    """A SQL_ASCII database made on purpose, as a cluster made with no locale would have it."""
    settings = unique_settings()
    with admin_connection(settings) as admin:
        admin.execute(
            sql.SQL(
                "CREATE DATABASE {} ENCODING 'SQL_ASCII' TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'"
            ).format(sql.Identifier(settings.postgres_db))
        )
    yield settings
    drop_database(settings)


def schemas(settings: Settings) -> set[str]:
    with psycopg.connect(settings.postgres_dsn) as conn:
        rows = conn.execute("SELECT schema_name FROM information_schema.schemata").fetchall()
    return {row[0] for row in rows}


@pytest.mark.parametrize("service", SERVICES)
def test_service_refuses_to_start_on_a_sql_ascii_database(sql_ascii: Settings, service: str) -> None:
    before = schemas(sql_ascii)
    env = os.environ | {
        "SALESOPS_POSTGRES_DB": sql_ascii.postgres_db,
        "SALESOPS_NAMESPACE": sql_ascii.namespace,
    }
    started = subprocess.run(
        [sys.executable, "-m", f"services.{service}.main"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    said = [line for line in started.stderr.splitlines() if line.strip()]
    assert started.returncode == 1
    assert said == [f"{service}: {DatabaseNotUtf8(sql_ascii.postgres_db, 'SQL_ASCII')}"]
    assert "CREATE DATABASE" in said[0] and "ENCODING 'UTF8' TEMPLATE template0" in said[0]
    assert schemas(sql_ascii) == before  # nothing was created in it
