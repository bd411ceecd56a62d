"""The write services' aggregate cache (``SharedCacheRepository``): cached states never change in place,
a saved change replaces the cached state, and what a command creates is cached only once read."""

from __future__ import annotations

from shared.store import SharedCacheRepository
from tests.tally import META, Tally, TallyApp, in_memory_app


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
