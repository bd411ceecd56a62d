"""Every error reply names its rule: the DOMAIN.md id, or null where no rule applies (issue 21)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from services.orders import commands as c
from shared.bus import answer, error_reply, invalid_reply
from shared.errors import DomainError, NotFound


def refusing(error: Exception) -> Any:
    async def handler(_: Any) -> dict[str, Any]:
        raise error

    return handler


def test_an_invalid_body_is_answered_with_rule_null() -> None:
    with pytest.raises(ValidationError) as invalid:
        c.PlaceOrder.model_validate({"actor": {"id": "sp-1", "role": "salesperson"}})
    error = invalid_reply(invalid.value)["error"]
    assert (error["code"], error["rule"]) == ("invalid", None)


async def test_not_found_without_a_rule_is_answered_with_rule_null() -> None:
    error = (await answer(refusing(NotFound("no Order 42")), None))["error"]
    assert (error["code"], error["rule"]) == ("not_found", None)


async def test_not_found_under_a_rule_names_it() -> None:
    error = (await answer(refusing(NotFound("no product P-1 on the list", rule="O2")), None))["error"]
    assert (error["code"], error["rule"]) == ("not_found", "O2")


async def test_a_refusal_names_its_rule_and_other_errors_null() -> None:
    refused = (await answer(refusing(DomainError("over the limit", rule="O6")), None))["error"]
    assert refused["rule"] == "O6"
    assert error_reply("unknown_command", "no such command")["error"]["rule"] is None
    assert (await answer(refusing(RuntimeError("bug")), None))["error"] == {
        "code": "internal",
        "message": "internal error; nothing was written",
        "rule": None,
        "details": {},
    }
