"""The write services' transcoder writes exactly the library's JSON (stored events must read back the same
whichever encoder wrote them): for every event class of every write service (generated field values) and
for the values orjson would write its own way (UUIDs, floats, big integers, keys that are not strings)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import JSONTranscoder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.aggregate import Meta, SalesTranscoder
from tests.unit.test_envelope_fast_path import APPS, EVENTS, event_states


def the_library_s(transcoder: JSONTranscoder) -> JSONTranscoder:
    """A plain ``JSONTranscoder`` with the same transcodings."""
    plain = JSONTranscoder()
    for transcoding in transcoder.types.values():
        plain.register(transcoding)
    return plain


@pytest.mark.parametrize(
    ("service", "event_class"),
    [(s, cls) for s, classes in EVENTS.items() for cls in classes],
    ids=lambda v: getattr(v, "__qualname__", v),
)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_event_class_is_written_as_the_library_writes_it(
    service: str, event_class: type, data: st.DataObject
) -> None:
    transcoder = APPS[service].mapper.transcoder
    assert isinstance(transcoder, SalesTranscoder)
    state = data.draw(event_states(event_class))
    assert transcoder.encode(state) == the_library_s(transcoder).encode(state)


class Colour(Enum):
    RED = "red"


META = Meta("sp-1", "salesperson", "c-1", "c-1", datetime(2026, 11, 26, tzinfo=UTC))


@pytest.mark.parametrize(
    "value",
    [
        uuid4(),
        1.5,
        float("nan"),
        2**70,
        {1: "an int key"},
        Colour.RED,
        (1, "a tuple"),
        {"lines": [{"amount": Decimal("12.30"), "id": uuid4()}]},
        {"o-1": {"status": "shipped", "receivables": ((Decimal("5.00"), date(2026, 12, 1)),)}},
        META,
    ],
    ids=["uuid", "float", "nan", "big-int", "int-key", "enum", "tuple", "nested-uuid", "entry", "meta"],
)
def test_values_orjson_writes_its_own_way_are_written_as_the_library_writes_them(value: Any) -> None:
    transcoder = APPS["orders"].mapper.transcoder
    assert isinstance(transcoder, SalesTranscoder)
    state = {"timestamp": META.at, "value": value}
    try:
        expected = the_library_s(transcoder).encode(state)
    except Exception as error:  # a value the library cannot write: neither may ours
        with pytest.raises(type(error)):
            transcoder.encode(state)
        return
    assert transcoder.encode(state) == expected
    assert transcoder.decode(expected) == the_library_s(transcoder).decode(expected)
