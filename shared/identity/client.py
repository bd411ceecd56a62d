"""Tokens for the programs that send commands with the embedded issuer's key: the tests, the demo, the
load and benchmark clients. The one place they are minted (the CLI of ``python -m shared.identity`` too)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.clock import Clock, SystemClock
from shared.identity.tokens import Grant, issue_token, load_signing_key
from shared.identity.verify import AUTHORIZATION, BEARER
from shared.settings import Settings

# Who asks when a body names no actor (queries mostly): a company-wide reader.
DEFAULT_USER = "salesops-client"
DEFAULT_GRANT = Grant("general_manager")
LIFETIME = timedelta(hours=8)
RENEW_BEFORE = timedelta(minutes=5)


class Credentials:
    """A token for each actor a client sends as, each minted once and renewed shortly before it expires.
    A user of ``users`` gets the roles listed there (with their scopes); any other user the body's role,
    company-wide."""

    def __init__(
        self,
        signing_key: Ed25519PrivateKey,
        clock: Clock | None = None,
        users: dict[str, tuple[Grant, ...]] | None = None,
    ) -> None:
        self.signing_key = signing_key
        self.clock = clock or SystemClock()
        self.users = users or {}
        self._tokens: dict[tuple[str, tuple[Grant, ...]], tuple[str, float]] = {}

    @classmethod
    def from_settings(
        cls, settings: Settings, users: dict[str, tuple[Grant, ...]] | None = None
    ) -> Credentials:
        return cls(load_signing_key(Path(settings.identity_signing_key_file).read_bytes()), users=users)

    def token(self, user: str, *grants: Grant) -> str:
        now = self.clock.now()
        known = self._tokens.get((user, grants))
        if known is not None and known[1] > (now + RENEW_BEFORE).timestamp():
            return known[0]
        token = issue_token(self.signing_key, user, grants, now, LIFETIME)
        self._tokens[(user, grants)] = (token, (now + LIFETIME).timestamp())
        return token

    def headers(self, body: dict[str, Any] | bytes | None = None) -> dict[str, str]:
        """The ``Authorization`` header proving the body's ``actor``; the default reader's when it names no
        user and role (a query, or a malformed body: the service then refuses the body, not the token)."""
        actor = actor_of(body)
        if actor is None:
            token = self.token(DEFAULT_USER, DEFAULT_GRANT)
        else:
            user, grant = actor
            token = self.token(user, *self.users.get(user, (grant,)))
        return {AUTHORIZATION: BEARER + token}


def actor_of(body: dict[str, Any] | bytes | None) -> tuple[str, Grant] | None:
    """The user and role a body's ``actor`` names, if it names both."""
    if isinstance(body, bytes):
        try:
            body = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
    actor = body.get("actor") if isinstance(body, dict) else None
    if not isinstance(actor, dict):
        return None
    user, role = actor.get("id"), actor.get("role")
    if not (isinstance(user, str) and user and isinstance(role, str) and role):
        return None
    return user, Grant(role)
