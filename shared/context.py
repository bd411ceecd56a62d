"""Values of the request being handled, kept in context variables (who acts, its correlation id), so that
code it calls, in the worker thread too, reads them without passing them along."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")


@contextlib.contextmanager
def holding(variable: contextvars.ContextVar[T], value: T) -> Iterator[None]:
    """``variable`` holds ``value`` inside the block, and what it held before once the block ends."""
    token = variable.set(value)
    try:
        yield
    finally:
        variable.reset(token)
