"""The services' PostgreSQL databases: made UTF-8 when missing, refused when not UTF-8, dropped by tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

from shared.settings import Settings


def admin_connection(settings: Settings) -> psycopg.Connection[Any]:
    """An autocommit connection to the server's ``postgres`` database (the service's may not exist)."""
    return psycopg.connect(
        host=settings.postgres_host,
        port=settings.postgres_port,
        user=settings.postgres_user,
        password=settings.postgres_password or None,
        dbname="postgres",
        autocommit=True,
    )


def drop_database(settings: Settings) -> None:
    """Drop the settings' database, whoever is still connected to it (tests, the benchmark)."""
    with admin_connection(settings) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(settings.postgres_db))
        )


class DatabaseNotUtf8(RuntimeError):
    """The service's database exists and is not UTF-8: psycopg would hand its text columns over as bytes
    (eventsourcing's topics among them), and non-ASCII names would be mangled."""

    def __init__(self, database: str, encoding: str) -> None:
        super().__init__(
            f"database {database!r} is {encoding}, not UTF8: salesops refuses to start on it; create it "
            f"anew with CREATE DATABASE {database} ENCODING 'UTF8' TEMPLATE template0, or set "
            "SALESOPS_POSTGRES_DB to a UTF-8 database"
        )


def ensure_database(settings: Settings, schemas: Sequence[str] = ()) -> None:
    """Create the database (UTF-8, whatever the cluster's default) and the given schemas when missing
    (idempotent). Raises ``DatabaseNotUtf8`` for an existing database of another encoding."""
    with admin_connection(settings) as admin:
        found = admin.execute(
            "SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = %s",
            (settings.postgres_db,),
        ).fetchone()
        if found is None:
            # From template0: template1 has the cluster's encoding, SQL_ASCII where initdb had no locale.
            admin.execute(
                sql.SQL("CREATE DATABASE {} ENCODING 'UTF8' TEMPLATE template0").format(
                    sql.Identifier(settings.postgres_db)
                )
            )
        elif found[0] != "UTF8":
            raise DatabaseNotUtf8(settings.postgres_db, found[0])
    with psycopg.connect(settings.postgres_dsn, autocommit=True) as conn:
        for schema in schemas:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
