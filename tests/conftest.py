"""Fixtures for tests against the real parts: each test module gets its own PostgreSQL database and
its own NATS namespace (so its own subjects and streams), and removes them afterwards."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import logging
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import nats
import nats.errors
import pytest
from nats.aio.client import Client as NATS
from nats.js.errors import NotFoundError

from deploy.local.processes import service_command
from shared.database import drop_database
from shared.identity.client import Credentials
from shared.identity.tokens import Grant, ensure_signing_key, public_pem
from shared.settings import Settings
from shared.streams import delete_streams

SERVICES = ["customers", "orders", "complaints", "field", "reporting"]


def _tests_issuer() -> Credentials:
    """The tests' own token issuer: a signing key made for this run. Every service the tests start, in
    this process or as a child process, verifies with its public key (set in the environment, so also
    ``Settings()``); client processes they start sign with the key file."""
    directory = Path(tempfile.mkdtemp(prefix="salesops-identity-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    key_file = directory / "signing.pem"
    signing_key = ensure_signing_key(key_file)
    os.environ["SALESOPS_IDENTITY_PUBLIC_KEY"] = public_pem(signing_key)
    os.environ["SALESOPS_IDENTITY_SIGNING_KEY_FILE"] = str(key_file)
    return Credentials(signing_key)


CREDENTIALS = _tests_issuer()


def js_client_tokens() -> dict[str, str]:
    """A token for each user the JavaScript contract client acts as (tests/e2e/js_client/actors.json)."""
    actors = json.loads((Path(__file__).parent / "e2e" / "js_client" / "actors.json").read_text())
    return {user: CREDENTIALS.token(user, Grant.parse(claim)) for user, claim in actors.items()}


def auth(body: dict[str, Any] | bytes | None = None) -> dict[str, str]:
    """The headers proving the body's actor (a company-wide reader when it names none)."""
    return CREDENTIALS.headers(body)


def printed_document(service: str, kind: str) -> Any:
    """What a process of ``deploy.local.processes`` (a service, a department feed) prints when asked for its
    ``asyncapi`` or ``openapi`` document, parsed."""
    printed = subprocess.run(
        [*service_command(service), kind],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    return json.loads(printed)


def unique_settings(**overrides: Any) -> Settings:
    token = uuid.uuid4().hex[:10]
    return Settings(namespace=f"t{token}", postgres_db=f"salesops_test_{token}", **overrides)


@pytest.fixture(scope="module")
def settings() -> Iterator[Settings]:
    """A fresh database name and namespace for this module; dropped afterwards."""
    value = unique_settings()
    yield value
    drop_database(value)


@pytest.fixture(scope="module")
async def nc(settings: Settings) -> AsyncIterator[NATS]:
    connection = await nats.connect(settings.nats_url)
    yield connection
    await delete_streams(connection.jetstream(), settings, SERVICES)
    await connection.drain()


Requester = Callable[..., Coroutine[Any, Any, dict[str, Any]]]


@pytest.fixture(scope="module")
def request_(nc: NATS, settings: Settings) -> Requester:
    """``await request_("customers", "cmd", "approve_customer", {...})`` → the decoded reply; sent with a
    valid token for the body's actor."""

    async def send(service: str, kind: str, name: str, body: dict[str, Any] | bytes) -> dict[str, Any]:
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        subject = f"{settings.namespace}.{service}.{kind}.{name}"
        reply = await nc.request(subject, payload, timeout=10, headers=auth(body))
        return json.loads(reply.data)

    return send


async def succeeded(
    request_: Requester, service: str, kind: str, name: str, body: dict[str, Any]
) -> dict[str, Any]:
    """The result of a command or query that must succeed."""
    reply = await request_(service, kind, name, body)
    assert reply["ok"], reply
    result: dict[str, Any] = reply["result"]
    return result


async def fetch_value(settings: Settings, query: str, *args: Any) -> Any:
    """One value read from the module's database, on a connection of its own."""
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        return await conn.fetchval(query, *args)
    finally:
        await conn.close()


async def wait_for(
    condition: Callable[[], Awaitable[bool]], timeout: float = 15.0, every: float = 0.1
) -> None:
    """Poll an async condition until it holds; fail the test after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(every)


async def made_stream(js: Any, name: str, timeout: float = 120.0) -> Any:
    """The stream's info once it exists: a service's relay process makes it after connecting, which can
    be after the service's routes already answer. An API request that times out is asked again: a cluster
    just formed, still electing its leaders, can leave one unanswered (seen on a slow host)."""

    async def made() -> bool:
        try:
            await js.stream_info(name)
        except (NotFoundError, nats.errors.TimeoutError):
            return False
        return True

    await wait_for(made, timeout)
    return await js.stream_info(name)


@contextlib.asynccontextmanager
async def service_running(
    app: Any, register: Callable[..., None], settings: Settings, **options: Any
) -> AsyncIterator[Any]:
    """Run a write service in-process (routes + outbox relay) for the duration of the block."""
    from shared.runtime import start_write_service

    stop = asyncio.Event()
    running = await start_write_service(app, settings, register, stop, **options)
    try:
        yield running
    finally:
        stop.set()
        for task in running.background:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(task, 10)
        app.close()


@contextlib.contextmanager
def logging_to(handler: logging.Handler, logger_name: str) -> Iterator[None]:
    """For the block, ``handler`` sees what the logger writes at INFO and above."""
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


class PublishThrough:
    """A NATS connection whose ``publish`` is the one given (tests that lose a message or its ack)."""

    def __init__(self, nc: NATS, publish: Callable[..., Awaitable[None]]) -> None:
        self._nc = nc
        self.publish = publish

    def __getattr__(self, name: str) -> Any:
        return getattr(self._nc, name)
