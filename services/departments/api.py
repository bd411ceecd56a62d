"""A department's route: ``<ns>.<department>.query.get_feed`` (O10)."""

from __future__ import annotations

from services.departments import commands as c
from services.departments.application import FeedStore
from services.departments.feeds import READERS
from shared.bus import ServiceBus


def register(bus: ServiceBus, feed: FeedStore) -> None:
    bus.query("get_feed", c.GetFeed, feed.get_feed, c.DepartmentFeed)
    bus.document_roles({"get_feed": READERS[feed.department]})
