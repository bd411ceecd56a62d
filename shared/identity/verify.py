"""Verifying the token of every command and query before anything else (DOMAIN.md "Actors and roles",
rev 2: the acting user and role are proven, not claimed).

A request carries ``Authorization: Bearer <jwt>`` as a NATS header. The token is checked against the
embedded issuer's public key (``SALESOPS_IDENTITY_PUBLIC_KEY``) or, when its key id is another, against
an OpenID Connect provider's key set (``SALESOPS_IDENTITY_JWKS_URL``: fetched, cached, and fetched again
when a token names a key it does not hold, so rotated keys are picked up). A verified token is kept
until it expires: the signature check costs ~200-300 µs, a known token ~1 µs
(docs/decisions/0005-identity-verification-cost.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from shared.clock import Clock, SystemClock
from shared.errors import Forbidden, Unauthenticated
from shared.identity.tokens import AUDIENCE, EMBEDDED_ALGORITHM, EMBEDDED_ISSUER, Identity, key_id
from shared.settings import Settings

AUTHORIZATION = "Authorization"
BEARER = "Bearer "
# Verified tokens kept at most; past this the oldest is forgotten (and verified again if it comes back).
VERIFIED_TOKENS = 10_000
# PyJWT checks these itself with the system's time; the verifier checks them with its clock instead.
DECODE_OPTIONS: Any = {"require": ["exp"], "verify_exp": False, "verify_iat": False, "verify_nbf": False}


def refuse_unproven_actor(identity: Identity, actor_id: str, role: str) -> None:
    """A body's ``actor`` must be the proven user in a role they hold: anything else is refused."""
    if actor_id != identity.user or not identity.holds(role):
        raise Forbidden(
            f"the body's actor {actor_id} as {role} is not the proven user {identity.user} "
            f"(holding {', '.join(grant.claim() for grant in identity.grants) or 'no role'}); "
            "nothing was written",
            details={"field": "actor", "user": identity.user},
        )


class Verifier:
    """Turns a request's headers into its proven ``Identity``, or refuses it ``unauthenticated``."""

    def __init__(
        self,
        embedded_key: Ed25519PublicKey | None = None,
        jwks: jwt.PyJWKClient | None = None,
        external_issuer: str | None = None,
        audience: str = AUDIENCE,
        user_claim: str = "sub",
        clock: Clock | None = None,
    ) -> None:
        self.embedded_key = embedded_key
        self.embedded_kid = key_id(embedded_key) if embedded_key is not None else None
        self.jwks = jwks
        self.external_issuer = external_issuer
        self.audience = audience
        self.user_claim = user_claim
        self.clock = clock or SystemClock()
        self._verified: dict[str, Identity] = {}

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock | None = None) -> Verifier:
        embedded = None
        if settings.identity_public_key:
            key = serialization.load_pem_public_key(settings.identity_public_key.encode())
            if not isinstance(key, Ed25519PublicKey):
                raise ValueError("SALESOPS_IDENTITY_PUBLIC_KEY is not an Ed25519 public key")
            embedded = key
        jwks = jwt.PyJWKClient(settings.identity_jwks_url) if settings.identity_jwks_url else None
        return cls(
            embedded,
            jwks,
            settings.identity_jwks_issuer or None,
            settings.identity_audience,
            settings.identity_user_claim,
            clock,
        )

    def forget(self) -> None:
        """Forget the tokens verified so far (each is checked again when it next comes)."""
        self._verified.clear()

    async def identify(self, headers: Mapping[str, str] | None) -> Identity:
        token = bearer_token(headers)
        now = self.clock.now().timestamp()
        identity = self._verified.get(token)
        if identity is None:
            identity = await self._verify(token, now)
            if len(self._verified) >= VERIFIED_TOKENS:
                del self._verified[next(iter(self._verified))]
            self._verified[token] = identity
        if identity.expires_at <= now:
            raise Unauthenticated(
                "the credential has expired; nothing was written", details={"user": identity.user}
            )
        return identity

    async def _verify(self, token: str, now: float) -> Identity:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            if self.embedded_key is not None and kid == self.embedded_kid:
                key: Any = self.embedded_key
                algorithms: list[str] = [EMBEDDED_ALGORITHM]
                issuer: str | None = EMBEDDED_ISSUER
                user_claim = "sub"
            elif self.jwks is not None and isinstance(kid, str):
                # the key set may have to be fetched (blocking I/O): not on the event loop
                signing = await asyncio.to_thread(self.jwks.get_signing_key, kid)
                key, algorithms, issuer = signing, [signing.algorithm_name], self.external_issuer
                user_claim = self.user_claim
            else:
                raise jwt.InvalidSignatureError("signed by a key this service does not know")
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=self.audience,
                issuer=issuer,
                options=DECODE_OPTIONS,
            )
            if float(claims.get("nbf", now)) > now:
                raise jwt.ImmatureSignatureError("the credential is not valid yet")
            return Identity.of_claims(claims, user_claim)
        except jwt.PyJWTError as error:
            raise Unauthenticated(
                f"the credential was refused ({error}); nothing was written",
                details={"header": AUTHORIZATION},
            ) from error


def bearer_token(headers: Mapping[str, str] | None) -> str:
    value = (headers or {}).get(AUTHORIZATION, "")
    if not value.startswith(BEARER) or not value[len(BEARER) :].strip():
        raise Unauthenticated(
            f"no credential: send the header '{AUTHORIZATION}: Bearer <token>'; nothing was written",
            details={"header": AUTHORIZATION},
        )
    return value[len(BEARER) :].strip()
