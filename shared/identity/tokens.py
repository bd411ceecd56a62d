"""Who a token says its bearer is, and the embedded issuer's keys and tokens.

A token is a JWT signed by the embedded issuer (an Ed25519 key made by ``./salesops up``) or by an
outside OpenID Connect provider. Its claims: ``sub`` (the user), ``roles`` (each ``"role"`` held
company-wide or ``"role@REGION"`` held in one region), ``exp``, ``iss`` and ``aud``.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

EMBEDDED_ISSUER = "salesops"
AUDIENCE = "salesops"
EMBEDDED_ALGORITHM = "EdDSA"
SCOPE_SEPARATOR = "@"


@dataclass(frozen=True)
class Grant:
    """A role held in a region, or company-wide (``region`` None)."""

    role: str
    region: str | None = None

    @classmethod
    def parse(cls, claim: str) -> Grant:
        role, _, region = claim.partition(SCOPE_SEPARATOR)
        return cls(role, region or None)

    def claim(self) -> str:
        return f"{self.role}{SCOPE_SEPARATOR}{self.region}" if self.region else self.role


@dataclass(frozen=True)
class Identity:
    """The proven user of a request and the roles they hold; ``expires_at`` in seconds since the epoch."""

    user: str
    grants: tuple[Grant, ...]
    expires_at: float

    def holds(self, role: str) -> bool:
        return any(grant.role == role for grant in self.grants)

    def regions(self, role: str) -> set[str | None]:
        """Where the user holds ``role``: region names, or None for company-wide."""
        return {grant.region for grant in self.grants if grant.role == role}

    @classmethod
    def of_claims(cls, claims: dict[str, Any], user_claim: str = "sub") -> Identity:
        roles = claims.get("roles", [])
        if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
            raise jwt.InvalidTokenError("the roles claim is not a list of strings")
        user = claims.get(user_claim)
        if not isinstance(user, str) or not user:
            raise jwt.InvalidTokenError(f"the {user_claim} claim names no user")
        return cls(user, tuple(Grant.parse(role) for role in roles), float(claims["exp"]))


def new_signing_key() -> bytes:
    """A fresh Ed25519 private key, PEM."""
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_signing_key(pem: bytes) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("the signing key is not an Ed25519 key")
    return key


def public_pem(signing_key: Ed25519PrivateKey) -> str:
    return (
        signing_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def key_id(public_key: Ed25519PublicKey) -> str:
    """The key's id in tokens (``kid``): a digest of the public key, so a new key is a new id."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "salesops-" + base64.urlsafe_b64encode(hashlib.sha256(raw).digest()[:9]).decode()


def ensure_signing_key(path: Path) -> Ed25519PrivateKey:
    """The key at ``path``, made there (readable by its owner only) when there is none."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(new_signing_key())
    return load_signing_key(path.read_bytes())


def issue_token(
    signing_key: Ed25519PrivateKey,
    user: str,
    grants: tuple[Grant, ...] | list[Grant],
    now: datetime,
    lifetime: timedelta = timedelta(hours=8),
) -> str:
    """A token of the embedded issuer for ``user`` holding ``grants``, valid from ``now`` for ``lifetime``."""
    claims = {
        "iss": EMBEDDED_ISSUER,
        "aud": AUDIENCE,
        "sub": user,
        "roles": [grant.claim() for grant in grants],
        "iat": int(now.timestamp()),
        "exp": int((now + lifetime).timestamp()),
    }
    headers = {"kid": key_id(signing_key.public_key())}
    return jwt.encode(claims, signing_key, algorithm=EMBEDDED_ALGORITHM, headers=headers)
