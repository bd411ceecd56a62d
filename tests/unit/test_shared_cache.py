"""The write services' aggregate cache (``SharedCacheRepository``): cached states never change in place,
a saved change replaces the cached state, and what a command creates is cached only once read; and when
a cached state counts as the latest (``Freshness``), so that a read needs no select."""

from __future__ import annotations

import base64
import uuid
from typing import cast

from shared.cache import Freshness, SharedCacheRepository, Stamp, WriteWatch
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


def test_a_write_by_another_instance_naming_nothing_or_a_deaf_watch_trusts_nothing() -> None:
    fresh, watch = freshness()
    aggregate = uuid.uuid4()
    fresh.verified(aggregate, require(fresh.stamp()))
    watch.generation += 1  # a notification that names no aggregate (the library's own recorder)
    assert not fresh.trusted(aggregate)
    fresh.verified(aggregate, require(fresh.stamp()))
    watch.listening = False
    assert not fresh.trusted(aggregate)
    assert fresh.stamp() is None


def test_another_instances_write_of_an_aggregate_leaves_the_others_trusted() -> None:
    fresh, watch = freshness()
    theirs, mine = uuid.uuid4(), uuid.uuid4()
    stamp = require(fresh.stamp())
    fresh.verified(theirs, stamp)
    fresh.verified(mine, stamp)
    assert watch.on_others_wrote is not None
    watch.on_others_wrote([theirs.int])
    assert not fresh.trusted(theirs)
    assert fresh.trusted(mine)
    fresh.verified(theirs, require(fresh.stamp()))  # read again since
    assert fresh.trusted(theirs)


def test_a_state_read_before_another_instances_write_was_heard_is_not_trusted() -> None:
    """A read's select that raced the other's commit may have found the older state."""
    fresh, watch = freshness()
    aggregate = uuid.uuid4()
    before_the_read = require(fresh.stamp())
    assert watch.on_others_wrote is not None
    watch.on_others_wrote([aggregate.int])
    fresh.verified(aggregate, before_the_read)
    assert not fresh.trusted(aggregate)


def test_this_processs_save_heard_of_another_write_after_it_is_not_trusted() -> None:
    """Another instance wrote on top of this process's save before the save was marked verified."""
    fresh, watch = freshness()
    aggregate = uuid.uuid4()
    before_the_save = require(fresh.stamp())
    fresh.written([aggregate])
    assert watch.on_others_wrote is not None
    watch.on_others_wrote([aggregate.int])
    fresh.verified_own(aggregate, before_the_save)
    assert not fresh.trusted(aggregate)


def test_the_watch_tells_the_aggregates_another_instance_names_and_counts_a_nameless_write_as_all() -> None:
    watch = WriteWatch("postgresql://unused", "channel", token="mine")
    told: list[list[int]] = []
    watch.on_others_wrote = told.append
    one, two = uuid.uuid4(), uuid.uuid4()
    named = " ".join(base64.b64encode(id_.bytes).decode().rstrip("=") for id_ in (one, two))
    watch.heard(f"mine {named}")  # its own save
    watch.heard("theirs ")  # a save that changed nothing existing (it created what it stored)
    assert told == [] and watch.generation == 0
    watch.heard(f"theirs {named}")
    assert told == [[one.int, two.int]] and watch.generation == 0
    watch.heard("theirs *")  # too many to name
    watch.heard("")  # the library's own recorder names neither writer nor aggregates
    assert watch.generation == 2


def test_a_conflict_makes_the_next_read_select() -> None:
    fresh, _ = freshness()
    aggregate = uuid.uuid4()
    fresh.verified(aggregate, require(fresh.stamp()))
    fresh.forget([aggregate])
    assert not fresh.trusted(aggregate)


def require(stamp: Stamp | None) -> Stamp:
    assert stamp is not None
    return stamp
