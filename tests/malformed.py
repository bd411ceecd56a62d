"""Malformed command bodies for the property tests of a service's error replies (not a test module):
one valid body spoilt one way, or bytes that are no JSON object at all."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from hypothesis import strategies as st

# Values no scalar field accepts (pydantic would coerce "5" to an int, but never a list to a string).
json_leaf = st.none() | st.booleans() | st.integers() | st.text(max_size=20)
not_a_scalar = st.lists(json_leaf, max_size=3) | st.dictionaries(st.text(max_size=5), json_leaf, max_size=3)
bad_money = st.sampled_from(["-1", "abc", "1.234", "1e400", "NaN", "99999999999999999999"])
NOT_AN_OBJECT = [b"", b"{", b"not json", b"[]", b"null", b"42", b'"text"', b"\xff\xfe"]
WAYS = ["drop", "wrong_type", "extra", "bad_value", "bad_actor", "not_an_object"]


def spoilt(
    draw: st.DrawFn,
    valid: Mapping[str, Any],
    required: Sequence[str],
    bad_values: Sequence[tuple[str, st.SearchStrategy[Any]]],
    bad_actors: Sequence[Any],
    lists: Collection[str] = (),
) -> tuple[bytes, str | None]:
    """(raw body, the field its error must name, or None when it is no JSON object). ``lists``: the fields
    that take a list or object, which get an integer as their wrong type."""
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
        body["actor"] = draw(st.sampled_from(bad_actors))
    else:
        return draw(st.sampled_from(NOT_AN_OBJECT)), None
    return json.dumps(body).encode(), field
