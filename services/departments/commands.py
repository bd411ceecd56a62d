"""The department feed query (what a client sends) and its result (what it gets back), as published."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from shared.contracts import Identifier, Money, Query


class GetFeed(Query):
    """O10: the orders this department has to act on (``pending_only``), or every order it knows of."""

    pending_only: bool = True
    customer_id: Identifier | None = None
    limit: Annotated[int, Field(ge=1, le=500)] = 100


class FeedEntry(BaseModel):
    order_id: str
    order_number: str
    customer_id: str
    region: str
    channel: str
    status: str = Field(description="the order's status as of its last event the department took in")
    to_do: str | None = Field(
        description="production: make, ship; finance: collect, collect_overdue; marketing: follow_up; "
        "null: nothing to do"
    )
    amount: Money = Field(description="finance: shipped and unpaid; otherwise the order's total")
    placed_at: datetime
    updated_at: datetime


class DepartmentFeed(BaseModel):
    department: str
    orders: list[FeedEntry] = Field(description="oldest placed first")
    position: int = Field(description="the last position of the orders stream the feed applied")
