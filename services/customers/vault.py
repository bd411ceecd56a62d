"""Personal data vault: one key per customer, so deleting it shreds the personal data in every copy.

The legal representative, phone and address travel and are stored only as ``enc:v1:<base64>``
(AES-256-GCM, a random 96-bit nonce per value, the customer id and field name as associated data, so
a value cannot be moved to another customer or field). The events are immutable and copied to the
stream and to other services' tables; erasing the key makes all those copies unreadable at once
(crypto-shredding) while the rest of each event (kind, region, company name ...) stays readable.
"""

from __future__ import annotations

import base64
import contextlib
import os
import threading
from datetime import datetime
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from psycopg import Connection, sql
from psycopg_pool import ConnectionPool

from shared.settings import Settings

PREFIX = "enc:v1:"
NONCE_BYTES = 12


# One read of a customer's personal data: (customer id, user, the roles they held, when).
Read = tuple[str, str, list[str], datetime]


class TamperedValue(Exception):
    """A stored value that does not decrypt with its customer's key (altered, or moved)."""


class PersonalDataVault(Protocol):
    """The port: keys per customer id."""

    def create_key(self, customer_id: str) -> None:
        """Create the customer's key; a second call keeps the first key (retries are safe)."""
        ...

    def encrypt(self, customer_id: str, field: str, text: str) -> str: ...

    def decrypt(self, customer_id: str, field: str, value: str) -> str | None:
        """The plaintext, or None once the customer's key is erased."""
        ...

    def erase(self, customer_id: str) -> None:
        """Delete the key (idempotent): every value encrypted with it becomes unreadable."""
        ...

    def record_read(self, read: Read) -> None:
        """Keep who read a customer's personal data, when (the auditor's log, append-only)."""
        ...

    def reads(self, customer_id: str | None, limit: int) -> list[Read]:
        """The recorded reads, newest first; of one customer, or of all."""
        ...


def seal(key: bytes, customer_id: str, field: str, text: str) -> str:
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(key).encrypt(nonce, text.encode(), _associated(customer_id, field))
    return PREFIX + base64.b64encode(nonce + ciphertext).decode("ascii")


def unseal(key: bytes, customer_id: str, field: str, value: str) -> str:
    if not value.startswith(PREFIX):
        raise TamperedValue(f"{field} of {customer_id} is not an encrypted value")
    try:
        raw = base64.b64decode(value[len(PREFIX) :], validate=True)
        plain = AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _associated(customer_id, field))
    except (InvalidTag, ValueError) as error:
        raise TamperedValue(f"{field} of {customer_id} does not decrypt with its key") from error
    return plain.decode()


def _associated(customer_id: str, field: str) -> bytes:
    return f"{customer_id}\x00{field}".encode()


class InMemoryVault:
    """For the POPO store (unit tests)."""

    def __init__(self) -> None:
        self.keys: dict[str, bytes] = {}
        self.read_log: list[Read] = []
        self._lock = threading.Lock()

    def create_key(self, customer_id: str) -> None:
        with self._lock:
            self.keys.setdefault(customer_id, AESGCM.generate_key(bit_length=256))

    def encrypt(self, customer_id: str, field: str, text: str) -> str:
        return seal(self.keys[customer_id], customer_id, field, text)

    def decrypt(self, customer_id: str, field: str, value: str) -> str | None:
        key = self.keys.get(customer_id)
        return None if key is None else unseal(key, customer_id, field, value)

    def erase(self, customer_id: str) -> None:
        with self._lock:
            self.keys.pop(customer_id, None)

    def record_read(self, read: Read) -> None:
        with self._lock:
            self.read_log.append(read)

    def reads(self, customer_id: str | None, limit: int) -> list[Read]:
        chosen = [read for read in reversed(self.read_log) if customer_id in (None, read[0])]
        return chosen[:limit]

    def close(self) -> None:
        pass


class PostgresVault:
    """Keys in ``<schema>.customer_keys``, read from the application's worker threads."""

    def __init__(self, settings: Settings, schema: str) -> None:
        self.table = sql.Identifier(schema, "customer_keys")
        self.read_table = sql.Identifier(schema, "personal_data_reads")
        self.pool = ConnectionPool(
            settings.postgres_dsn,
            connection_class=Connection,
            min_size=1,
            max_size=4,
            open=False,  # opened on first use: printing the contract document needs no database
        )
        self._open_lock = threading.Lock()

    def _connection(self) -> contextlib.AbstractContextManager[Connection]:
        with self._open_lock:
            if self.pool.closed:
                self.pool.open()
                self._create_table()
        return self.pool.connection()

    def _create_table(self) -> None:
        keys = sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (customer_id text PRIMARY KEY, key bytea NOT NULL)"
        ).format(self.table)
        reads = sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (id bigserial PRIMARY KEY, customer_id text NOT NULL, "
            "user_id text NOT NULL, roles text[] NOT NULL, read_at timestamptz NOT NULL)"
        ).format(self.read_table)
        # Two instances starting at once: concurrent CREATE TABLE IF NOT EXISTS can fail (DuplicateTable,
        # or a unique violation on pg_type), so the creations take turns under an advisory lock.
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("salesops-customer-vault",))
            for ddl in (keys, reads):
                conn.execute(ddl)

    def create_key(self, customer_id: str) -> None:
        insert = sql.SQL("INSERT INTO {} (customer_id, key) VALUES (%s, %s) ON CONFLICT DO NOTHING")
        with self._connection() as conn:
            conn.execute(insert.format(self.table), (customer_id, AESGCM.generate_key(bit_length=256)))

    def _key(self, customer_id: str) -> bytes | None:
        select = sql.SQL("SELECT key FROM {} WHERE customer_id = %s")
        with self._connection() as conn:
            row = conn.execute(select.format(self.table), (customer_id,)).fetchone()
        return None if row is None else bytes(row[0])

    def encrypt(self, customer_id: str, field: str, text: str) -> str:
        key = self._key(customer_id)
        if key is None:
            raise KeyError(f"no key for customer {customer_id}")
        return seal(key, customer_id, field, text)

    def decrypt(self, customer_id: str, field: str, value: str) -> str | None:
        key = self._key(customer_id)
        return None if key is None else unseal(key, customer_id, field, value)

    def erase(self, customer_id: str) -> None:
        delete = sql.SQL("DELETE FROM {} WHERE customer_id = %s")
        with self._connection() as conn:
            conn.execute(delete.format(self.table), (customer_id,))

    def record_read(self, read: Read) -> None:
        insert = sql.SQL("INSERT INTO {} (customer_id, user_id, roles, read_at) VALUES (%s, %s, %s, %s)")
        with self._connection() as conn:
            conn.execute(insert.format(self.read_table), read)

    def reads(self, customer_id: str | None, limit: int) -> list[Read]:
        select = sql.SQL(
            "SELECT customer_id, user_id, roles, read_at FROM {} "
            "WHERE %(customer)s::text IS NULL OR customer_id = %(customer)s ORDER BY id DESC LIMIT %(limit)s"
        )
        with self._connection() as conn:
            rows = conn.execute(select.format(self.read_table), {"customer": customer_id, "limit": limit})
            return [(row[0], row[1], list(row[2]), row[3]) for row in rows.fetchall()]

    def close(self) -> None:
        if not self.pool.closed:
            self.pool.close()
