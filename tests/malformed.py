"""Malformed command bodies for the property tests of a service's error replies (not a test module):
one valid body spoilt one way, or bytes that are no JSON object at all; and the check of the reply."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nats.aio.client import Client as NATS

from shared.runtime import WriteService
from shared.settings import Settings
from tests.conftest import auth

# Values no scalar field accepts (pydantic would coerce "5" to an int, but never a list to a string).
json_leaf = st.none() | st.booleans() | st.integers() | st.text(max_size=20)
not_a_scalar = st.lists(json_leaf, max_size=3) | st.dictionaries(st.text(max_size=5), json_leaf, max_size=3)
bad_money = st.sampled_from(["-1", "abc", "1.234", "1e400", "NaN", "99999999999999999999"])
NOT_AN_OBJECT = [b"", b"{", b"not json", b"[]", b"null", b"42", b'"text"', b"\xff\xfe"]
Case = tuple[str, bytes, str | None]  # (command, raw body, the field its error must name or None)


def over_the_bus(cases: st.SearchStrategy[Case]) -> Callable[[Callable[..., Any]], Any]:
    """A property test of malformed bodies sent over the bus, given as its ``case`` argument: its module's
    service fixture lives across examples, on purpose."""
    fixture_across_examples = [HealthCheck.function_scoped_fixture]
    return lambda test: settings(
        max_examples=120, deadline=None, suppress_health_check=fixture_across_examples
    )(given(case=cases)(test))


WAYS = ["drop", "wrong_type", "extra", "bad_value", "bad_actor", "not_an_object"]


def bad_actors(role: str) -> list[Any]:
    """Actors no command accepts: a part missing or empty, an unknown role, an extra key, a bare id."""
    return [
        {"id": "x"},
        {"role": role},
        {"id": "", "role": role},
        {"id": "x", "role": "ceo"},
        {"id": "x", "role": role, "extra": 1},
        "x-1",
    ]


def spoilt(
    draw: st.DrawFn,
    valid: Mapping[str, Any],
    required: Sequence[str],
    bad_values: Sequence[tuple[str, st.SearchStrategy[Any]]],
    role: str,
    lists: Collection[str] = (),
) -> tuple[bytes, str | None]:
    """(raw body, the field its error must name, or None when it is no JSON object). ``role``: one the
    command allows, for actors spoilt otherwise. ``lists``: the fields that take a list or object, which get
    an integer as their wrong type."""
    body = dict(valid)
    how = draw(st.sampled_from(WAYS))
    field: str | None
    if how == "drop":
        field = draw(st.sampled_from(required))
        del body[field]
    elif how == "wrong_type":
        field = draw(st.sampled_from(sorted(body)))
        body[field] = draw(st.integers()) if field in lists else draw(not_a_scalar)
    elif how == "extra":
        field = draw(st.text(min_size=1, max_size=15).filter(lambda s: s.strip() and s not in body))
        body[field] = draw(json_leaf)
    elif how == "bad_value":
        field, values = draw(st.sampled_from(bad_values))
        body[field] = draw(values)
    elif how == "bad_actor":
        field = "actor"
        body["actor"] = draw(st.sampled_from(bad_actors(role)))
    else:
        return draw(st.sampled_from(NOT_AN_OBJECT)), None
    return json.dumps(body).encode(), field


async def refused_as_invalid(nc: NATS, settings: Settings, service: WriteService, case: Case) -> None:
    """A malformed body (command, raw body, the field to name or None when it is no JSON object) gets a
    structured ``invalid`` error naming the field, and the service's store has not moved."""
    name, raw, field = case
    stored = service.app.recorder.max_notification_id
    before = stored() or 0
    subject = f"{settings.namespace}.{service.bus.service}.cmd.{name}"
    reply = json.loads((await nc.request(subject, raw, timeout=10, headers=auth(raw))).data)
    assert reply["ok"] is False, (subject, raw, reply)
    error = reply["error"]
    assert error["code"] == "invalid", error
    problems = error["details"]["errors"]
    assert problems and all({"field", "message", "type"} <= set(p) for p in problems)
    if field is not None:
        assert any(p["field"] == field or p["field"].startswith(f"{field}.") for p in problems), (
            field,
            problems,
        )
    assert (stored() or 0) == before
