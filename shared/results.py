"""A command's or query's result model filled from the aggregate it is about."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


def result_of(model: type[BaseModel], source: object, **values: Any) -> dict[str, Any]:
    """``model`` with each field taken from ``source``'s attribute of the same name, but for ``values``
    (given where the result states something else), as the reply carries it."""
    taken = {
        name: getattr(source, name)
        for name in model.model_fields
        if name not in values and hasattr(source, name)
    }
    return model.model_validate(taken | values).model_dump(mode="json")
