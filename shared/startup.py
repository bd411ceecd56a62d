"""One process at a time through start-up work that is not safe concurrently.

``CREATE DATABASE``, ``CREATE SCHEMA/TABLE IF NOT EXISTS`` (eventsourcing's recorders create their
tables when the application is built) fail on PostgreSQL's catalogue when two instances of a service
start at the same moment on a fresh database. Each instance takes a PostgreSQL advisory lock, held in the
``postgres`` database (the service's own may not exist yet), around that work.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterator

from shared.database import admin_connection
from shared.settings import Settings


@contextlib.contextmanager
def exclusive_startup(settings: Settings, name: str) -> Iterator[None]:
    """Hold the start-up lock of ``name`` in this database for the duration of the block."""
    key = zlib.crc32(f"startup:{settings.postgres_db}:{name}".encode())
    with admin_connection(settings) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (key,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
