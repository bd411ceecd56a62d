"""A command's or query's result model filled from the aggregate it is about."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic_core import to_jsonable_python


def result_of(model: type[BaseModel], source: object, **values: Any) -> dict[str, Any]:
    """``model`` with each field taken from ``source``'s attribute of the same name, but for ``values``
    (given where the result states something else), as the reply carries it."""
    return model.model_validate(_taken(model, source, values)).model_dump(mode="json")


def attributes_of(model: type[BaseModel], source: object, **values: Any) -> dict[str, Any]:
    """``result_of`` without validating: the attributes as they are, JSON-ready (decimals and ids as
    strings, dates in ISO); a fifth of the time, for the replies of every order command. What the model
    publishes is checked against them in tests (tests/unit/test_orders_results.py)."""
    return to_jsonable_python(_taken(model, source, values))  # type: ignore[no-any-return]


def _taken(model: type[BaseModel], source: object, values: dict[str, Any]) -> dict[str, Any]:
    taken = {
        name: getattr(source, name)
        for name in model.model_fields
        if name not in values and hasattr(source, name)
    }
    return taken | values
