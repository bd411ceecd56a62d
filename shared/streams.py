"""JetStream streams of the contract: one per service for its events, one for dead letters."""

from __future__ import annotations

import contextlib
from typing import Any

from nats.js.api import StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from shared.settings import Settings
from shared.subjects import dead_letter_stream, events_wildcard, stream_name

DUPLICATE_WINDOW_SECONDS = 120.0


async def _ensure(js: Any, config: StreamConfig) -> None:
    try:
        await js.add_stream(config)
    except BadRequestError:  # exists with another configuration: bring it up to date
        await js.update_stream(config)


async def ensure_event_stream(js: Any, settings: Settings, service: str, replicas: int | None = None) -> None:
    """The service's event stream, with ``replicas`` copies (default: ``settings.stream_replicas``)."""
    await _ensure(
        js,
        StreamConfig(
            name=stream_name(settings.namespace, service),
            subjects=[events_wildcard(settings.namespace, service)],
            duplicate_window=DUPLICATE_WINDOW_SECONDS,
            num_replicas=replicas or settings.stream_replicas,
        ),
    )


async def ensure_dead_letter_stream(js: Any, settings: Settings, replicas: int | None = None) -> None:
    await _ensure(
        js,
        StreamConfig(
            name=dead_letter_stream(settings.namespace),
            subjects=[f"{settings.namespace}.deadletter.>"],
            num_replicas=replicas or settings.stream_replicas,
        ),
    )


async def delete_streams(js: Any, settings: Settings, services: list[str]) -> None:
    """Remove a namespace's streams (tests clean up after themselves)."""
    for name in [stream_name(settings.namespace, s) for s in services] + [
        dead_letter_stream(settings.namespace)
    ]:
        with contextlib.suppress(NotFoundError):  # already gone
            await js.delete_stream(name)
