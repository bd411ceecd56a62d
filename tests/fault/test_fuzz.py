"""Property-based fuzzing of every command of every write service, driven by the route registry: each
malformed body gets a structured error naming the field, the service stays up, nothing is stored; a
body over ``shared.bus.MAX_BODY_BYTES`` is refused as ``too_large`` before it is parsed."""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from pydantic import BaseModel

from deploy.ops.reliability_doc import table, write_section
from services.complaints import api as complaints_api
from services.complaints.main import make_app as complaints_app
from services.customers import api as customers_api
from services.customers.main import make_app as customers_app
from services.orders import api as orders_api
from services.orders.main import make_app as orders_app
from shared.bus import MAX_BODY_BYTES, ServiceBus
from shared.database import ensure_database
from shared.settings import Settings
from shared.store import ServiceApplication
from tests.builders import is_json_object
from tests.conftest import Requester, service_running

pytestmark = [pytest.mark.integration, pytest.mark.fault]

SERVICES: dict[str, tuple[Any, Any]] = {
    "customers": (customers_app, customers_api.register),
    "orders": (orders_app, orders_api.register),
    "complaints": (complaints_app, complaints_api.register),
}
EXAMPLES_PER_COMMAND = 12


def registry() -> list[tuple[str, str, type[BaseModel]]]:
    """(service, command, body model) of every command route, read from the services' own registration."""
    routes = []
    for service, (make_app, register) in SERVICES.items():
        docs = Settings(persistence_module="eventsourcing.popo")
        bus = ServiceBus(docs, service)
        register(bus, make_app(docs))
        commands = sorted((r.name, r.model) for r in bus.routes.values() if r.kind == "cmd")
        routes += [(service, name, model) for name, model in commands]
    return routes


ROUTES = registry()
SEEN: Counter[str] = Counter()

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
not_an_actor = (
    json_scalars
    | st.lists(json_scalars, max_size=2)
    | st.fixed_dictionaries(
        {
            "id": st.just(""),
            "role": st.text(max_size=12).filter(lambda r: r not in {"salesperson", "finance"}),
        }
    )
)


@st.composite
def malformed(draw: st.DrawFn, model: type[BaseModel]) -> bytes:
    """A body that breaks the model's contract in at least one way (plus random values elsewhere)."""
    fields = model.model_fields
    required = sorted(name for name, f in fields.items() if f.is_required())
    present = draw(st.lists(st.sampled_from(sorted(fields)), unique=True, max_size=len(fields)))
    body: dict[str, Any] = {name: draw(json_values) for name in present}
    how = draw(st.sampled_from(["extra", "drop", "actor", "garbage", "not_an_object", "not_json"]))
    if how == "extra":
        body["x_" + draw(st.text(alphabet="abcdefgh", min_size=1, max_size=8))] = draw(json_values)
    elif how == "drop":
        body.pop(draw(st.sampled_from(required)), None)
    elif how == "actor":
        body["actor"] = draw(not_an_actor)
    elif how == "garbage":
        keys = st.text(max_size=10).filter(lambda k: k not in fields)
        body = draw(st.dictionaries(keys, json_values, max_size=5))
    elif how == "not_an_object":
        return json.dumps(draw(json_scalars | st.lists(json_values, max_size=3))).encode()
    else:
        return draw(st.binary(min_size=1, max_size=60).filter(lambda b: not is_json_object(b)))
    return json.dumps(body).encode()


@pytest.fixture(scope="module")
async def apps(settings: Settings) -> AsyncIterator[dict[str, ServiceApplication]]:
    ensure_database(settings, list(SERVICES))
    running: dict[str, ServiceApplication] = {}
    async with contextlib.AsyncExitStack() as stack:
        for service, (make_app, register) in SERVICES.items():
            app = make_app(settings)
            await stack.enter_async_context(service_running(app, register, settings, relay=False))
            running[service] = app
        yield running


def stored(apps: dict[str, ServiceApplication]) -> dict[str, int | None]:
    return {service: app.recorder.max_notification_id() for service, app in apps.items()}


def test_every_command_model_refuses_unknown_fields() -> None:
    """The "extra field" mutation below relies on it, and the bus contract promises it."""
    assert len(ROUTES) >= 30
    assert all(model.model_config.get("extra") == "forbid" for _, _, model in ROUTES)


# The services' own threads (nats inbox ids, pools) use `random` while an example is drawn, not the strategy.
@pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies")
@pytest.mark.parametrize(("service", "command", "model"), ROUTES, ids=[f"{s}.{c}" for s, c, _ in ROUTES])
@hyp_settings(max_examples=EXAMPLES_PER_COMMAND, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
async def test_fuzzed_bodies_get_structured_errors_and_store_nothing(
    apps: dict[str, ServiceApplication],
    request_: Requester,
    service: str,
    command: str,
    model: type[BaseModel],
    data: st.DataObject,
) -> None:
    before = stored(apps)
    body = data.draw(malformed(model))
    reply = await request_(service, "cmd", command, body)
    SEEN[service] += 1
    assert reply["ok"] is False, reply
    error = reply["error"]
    assert error["code"] == "invalid", reply
    assert isinstance(error["message"], str) and error["message"]
    assert error["details"]["errors"] and all(p["field"] for p in error["details"]["errors"])
    assert stored(apps) == before


@pytest.mark.parametrize("service", sorted(SERVICES))
async def test_services_still_answer_after_the_fuzzing(
    apps: dict[str, ServiceApplication], request_: Requester, service: str
) -> None:
    health = await request_(service, "query", "health", {})
    assert health["ok"] is True


@pytest.fixture(scope="module")
def sizes() -> Iterator[dict[str, Any]]:
    yield {}


@pytest.mark.parametrize("service", sorted(SERVICES))
async def test_oversized_bodies_are_refused_before_parsing(
    apps: dict[str, ServiceApplication], request_: Requester, service: str, sizes: dict[str, Any]
) -> None:
    before = stored(apps)
    command = next(c for s, c, _ in ROUTES if s == service)
    for size in (MAX_BODY_BYTES + 1, 900 * 1024):
        body = json.dumps({"actor": {"id": "fuzz", "role": "general_manager"}, "pad": ""}).encode()
        body = body[:-2] + b"x" * (size - len(body)) + b'"}'
        assert len(body) == size
        reply = await request_(service, "cmd", command, body)
        assert reply["ok"] is False
        assert reply["error"]["code"] == "too_large", reply
        assert reply["error"]["details"] == {"size": size, "limit": MAX_BODY_BYTES}
    # Just under the limit the body is read, and refused for what it says.
    under = json.dumps({"actor": {"id": "fuzz", "role": "general_manager"}, "pad": "x" * 60_000}).encode()
    reply = await request_(service, "cmd", command, under)
    assert reply["error"]["code"] == "invalid", reply
    assert stored(apps) == before
    sizes[service] = {"refused": [MAX_BODY_BYTES + 1, 900 * 1024], "read": len(under)}


def test_write_fuzz_figures(sizes: dict[str, Any]) -> None:
    """Records what the fuzz run did (the properties are asserted by the tests above)."""
    per_service = Counter(service for service, _, _ in ROUTES)
    rows: list[tuple[str, Any]] = [
        (f"{service}: command types / fuzzed bodies", f"{per_service[service]} / {SEEN[service]}")
        for service in SERVICES
    ]
    rows += [
        ("fuzzed bodies answered with a structured `invalid` error", f"{sum(SEEN.values())} (100%)"),
        ("events stored by them", 0),
        ("body limit (`shared.bus.MAX_BODY_BYTES`)", f"{MAX_BODY_BYTES} bytes (NATS max_payload: 1 MiB)"),
        (
            "oversized bodies refused with `too_large`",
            ", ".join(f"{s}: {v['refused']}" for s, v in sorted(sizes.items())),
        ),
    ]
    write_section(
        "fuzz",
        "Input fuzzing of every command type",
        "tests/fault/test_fuzz.py",
        [
            "Hypothesis draws malformed bodies for each command route the services register (unknown "
            "field, missing required field, bad actor, random object, JSON that is not an object, bytes "
            f"that are not JSON), {EXAMPLES_PER_COMMAND} per command type, over NATS to the running "
            "services.",
            "",
            *table(rows),
            "",
            "Properties: every reply is "
            "`{ok: false, error: {code: invalid, message, details.errors[field]}}`; "
            "the service still answers its health query; no service's notification log grew. Bodies over the "
            "limit get `{code: too_large, details: {size, limit}}` without being parsed.",
            "",
        ],
    )
