"""The write services' aggregate cache (``SharedCacheRepository``): cached states never change in place,
a saved change replaces the cached state, and what a command creates is cached only once read; and when
a cached state counts as the latest (``Freshness``), so that a read needs no select."""

from __future__ import annotations

import time
import uuid
from typing import cast

from shared.store import OTHERS_QUIET_SECONDS, Freshness, SharedCacheRepository, Stamp, WriteWatch
from tests.tally import META, QuietWatch, Tally, TallyApp, in_memory_app


def make_app() -> tuple[TallyApp, SharedCacheRepository]:
    app = in_memory_app()
    assert isinstance(app.repository, SharedCacheRepository) and app.repository.cache is not None
    return app, app.repository


def cached(repository: SharedCacheRepository, name: str) -> Tally | None:
    assert repository.cache is not None
    try:
        state = repository.cache.get(Tally.create_id(name))
    except KeyError:
        return None
    assert isinstance(state, Tally)
    return state


def test_what_a_command_creates_is_cached_only_once_it_is_read() -> None:
    app, repository = make_app()
    app.increase("new")
    assert cached(repository, "new") is None
    app.repository.get(Tally.create_id("new"))
    assert cached(repository, "new") is not None


def test_a_saved_change_replaces_the_cached_state() -> None:
    app, repository = make_app()
    app.increase("t")
    app.repository.get(Tally.create_id("t"))
    app.increase("t")
    state = cached(repository, "t")
    assert state is not None and state.version == 3 and state.by_key == {"k": 2}


def test_a_command_changing_its_copy_leaves_the_cached_state_as_it_was() -> None:
    app, repository = make_app()
    app.increase("t")
    copy: Tally = app.repository.get(Tally.create_id("t"))
    copy.increase(META, key="other")
    state = cached(repository, "t")
    assert state is not None and state is not copy
    assert state.version == 2 and state.by_key == {"k": 1}


def freshness() -> tuple[Freshness, QuietWatch]:
    watch = QuietWatch()
    return Freshness(cast(WriteWatch, watch)), watch


def test_a_state_verified_since_anyones_last_write_is_trusted() -> None:
    fresh, _ = freshness()
    aggregate = uuid.uuid4()
    fresh.written([aggregate])
    fresh.verified(aggregate, require(fresh.stamp()))
    assert fresh.trusted(aggregate)


def test_a_state_read_before_this_process_wrote_it_is_not_trusted() -> None:
    """A read's select that raced this process's own insert may have cached the older state."""
    fresh, _ = freshness()
    aggregate = uuid.uuid4()
    before_the_read = require(fresh.stamp())
    fresh.written([aggregate])
    fresh.verified(aggregate, before_the_read)
    assert not fresh.trusted(aggregate)


def test_a_write_by_another_instance_or_a_deaf_watch_trusts_nothing() -> None:
    fresh, watch = freshness()
    aggregate = uuid.uuid4()
    fresh.verified(aggregate, require(fresh.stamp()))
    watch.generation += 1  # another instance's notification
    assert not fresh.trusted(aggregate)
    fresh.verified(aggregate, require(fresh.stamp()))
    watch.listening = False
    assert not fresh.trusted(aggregate)
    assert fresh.stamp() is None


def test_while_another_writer_has_been_active_lately_nothing_is_trusted() -> None:
    fresh, watch = freshness()
    aggregate = uuid.uuid4()
    watch.others_wrote_at = time.monotonic()
    fresh.verified(aggregate, require(fresh.stamp()))  # verified after the other's write, yet
    assert not fresh.trusted(aggregate)
    watch.others_wrote_at -= OTHERS_QUIET_SECONDS
    assert fresh.trusted(aggregate)


def test_a_conflict_makes_the_next_read_select() -> None:
    fresh, _ = freshness()
    aggregate = uuid.uuid4()
    fresh.verified(aggregate, require(fresh.stamp()))
    fresh.forget([aggregate])
    assert not fresh.trusted(aggregate)


def require(stamp: Stamp | None) -> Stamp:
    assert stamp is not None
    return stamp
