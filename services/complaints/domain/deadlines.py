"""Deadlines raised once each (P7, P8, P9): which have passed, and whether one may be raised now.

The scan (application) asks an aggregate for its ``pending_deadlines`` (neither met nor raised yet);
those past ``now`` are due. Raising one is the system's alone, and never twice: the aggregate keeps
what it raised, so a restarted scanner finds nothing new to raise.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from shared.aggregate import Meta, require_role
from shared.contracts import Role
from shared.errors import InvalidState


def passed(pending: Mapping[str, datetime], now: datetime) -> list[str]:
    """The pending deadlines already past ``now``, in their order."""
    return [stage for stage, deadline in pending.items() if now > deadline]


def check_raisable(
    stage: str, pending: Mapping[str, datetime], raised: Mapping[str, datetime], meta: Meta, rule: str
) -> datetime:
    """Refuse (naming ``rule``) unless the system raises a passed deadline not yet raised; its deadline."""
    require_role(meta, {Role.SYSTEM}, rule, "raise a deadline")
    if stage in raised:
        raise InvalidState(f"the {stage} deadline was already raised", rule=rule)
    if stage not in passed(pending, meta.at):
        raise InvalidState(f"the {stage} deadline is not overdue", rule=rule)
    return pending[stage]
