"""The customer directory a service keeps of the customers stream (``shared.customer_directory``: field and
complaints) and the scope checks asked of it, in memory: no I/O."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.customer_directory import InMemoryCustomerDirectory, require_customer_scope
from shared.errors import Forbidden
from shared.identity.scope import Acting, acting_as
from shared.identity.tokens import Grant
from tests.builders import customer_event

T0 = datetime(2027, 3, 10, 2, 0, tzinfo=UTC)


def directory_of(*events: tuple[int, str, dict[str, str]]) -> InMemoryCustomerDirectory:
    directory = InMemoryCustomerDirectory()
    for version, event_type, data in events:
        directory.apply(customer_event("c-1", version, event_type, data, T0))
    return directory


REGISTERED = (1, "CustomerRegistered", {"region": "EAST", "salesperson_id": "sp-1"})


def test_c10_the_directory_follows_a_reassignment_and_a_region_move_whatever_the_order() -> None:
    moved = (3, "CustomerRegionMoved", {"region": "WEST"})
    reassigned = (2, "SalespersonReassigned", {"salesperson_id": "sp-2"})
    for events in ([REGISTERED, reassigned, moved], [moved, reassigned, REGISTERED, moved]):
        customer = directory_of(*events).get("c-1")
        assert customer is not None
        assert (customer.region, customer.salesperson_id, customer.version) == ("WEST", "sp-2", 3)


@pytest.mark.parametrize(
    ("user", "claim", "allowed"),
    [
        ("rm-1", "regional_manager@EAST", True),
        ("rm-2", "regional_manager@WEST", False),  # the right role in the wrong region
        ("gm-1", "general_manager", True),  # company-wide
        ("sp-1", "salesperson@EAST", True),  # the customer's own salesperson
        ("sp-9", "salesperson@EAST", False),  # another salesperson of the region
    ],
)
def test_scope_a_customer_is_acted_on_by_its_region_its_salesperson_or_company_wide_roles(
    user: str, claim: str, allowed: bool
) -> None:
    directory = directory_of(REGISTERED)
    with acting_as(Acting(user, (Grant.parse(claim),))):
        if allowed:
            require_customer_scope(directory, "c-1", "complaint")
        else:
            with pytest.raises(Forbidden) as refused:
                require_customer_scope(directory, "c-1", "complaint")
            assert (refused.value.rule, refused.value.details["region"]) == ("scope", "EAST")
