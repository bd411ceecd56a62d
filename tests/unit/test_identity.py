"""Tokens and their verification (shared/identity), without a bus: the embedded issuer's tokens, an
OpenID Connect provider's tokens by its key set (a local HTTP server serving a JWKS, keys rotated), and
the token CLI."""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from shared.clock import FixedClock
from shared.errors import Forbidden, Unauthenticated
from shared.identity.__main__ import main as cli
from shared.identity.tokens import Grant, Identity, issue_token, load_signing_key, new_signing_key
from shared.identity.verify import AUTHORIZATION, Verifier, refuse_unproven_actor
from shared.settings import Settings

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
KEY = load_signing_key(new_signing_key())
ISSUER = "https://sso.example.com/realms/salesops"


def bearer(token: str) -> dict[str, str]:
    return {AUTHORIZATION: f"Bearer {token}"}


def embedded(clock: FixedClock) -> Verifier:
    return Verifier(KEY.public_key(), clock=clock)


async def test_a_token_proves_its_user_and_the_scope_of_each_role() -> None:
    token = issue_token(KEY, "wang", [Grant("salesperson", "EAST"), Grant("finance")], NOW)
    identity = await embedded(FixedClock(NOW)).identify(bearer(token))
    assert identity.user == "wang"
    assert identity.regions("salesperson") == {"EAST"}
    assert identity.regions("finance") == {None}  # company-wide
    assert not identity.holds("general_manager")


async def test_a_token_is_refused_once_it_expires_even_after_it_was_verified() -> None:
    clock = FixedClock(NOW)
    verifier = embedded(clock)
    token = issue_token(KEY, "wang", [Grant("salesperson")], NOW, timedelta(hours=1))
    await verifier.identify(bearer(token))
    clock.advance(timedelta(hours=1))
    with pytest.raises(Unauthenticated, match="expired"):
        await verifier.identify(bearer(token))


async def test_a_token_not_yet_valid_by_the_clock_is_refused() -> None:
    kid = jwt.get_unverified_header(issue_token(KEY, "x", [], NOW))["kid"]
    claims = {"sub": "wang", "roles": [], "aud": "salesops", "iss": "salesops"}
    later = {"nbf": int(NOW.timestamp()) + 600, "exp": int(NOW.timestamp()) + 3600}
    token = jwt.encode(claims | later, KEY, algorithm="EdDSA", headers={"kid": kid})
    with pytest.raises(Unauthenticated, match="not valid yet"):
        await embedded(FixedClock(NOW)).identify(bearer(token))


@pytest.mark.parametrize(
    "headers",
    [None, {}, {AUTHORIZATION: "Bearer "}, {AUTHORIZATION: "Basic d2FuZzp4"}, bearer("a.b.c")],
    ids=["no headers", "no header", "empty", "not bearer", "not a jwt"],
)
async def test_a_request_without_a_usable_token_is_unauthenticated(headers: Any) -> None:
    with pytest.raises(Unauthenticated):
        await embedded(FixedClock(NOW)).identify(headers)


async def test_a_token_signed_by_another_key_under_the_embedded_key_id_is_refused() -> None:
    genuine = issue_token(KEY, "wang", [Grant("salesperson")], NOW)
    forged = jwt.encode(
        jwt.decode(genuine, options={"verify_signature": False}),
        load_signing_key(new_signing_key()),
        algorithm="EdDSA",
        headers={"kid": jwt.get_unverified_header(genuine)["kid"]},
    )
    with pytest.raises(Unauthenticated):
        await embedded(FixedClock(NOW)).identify(bearer(forged))


async def test_a_token_for_another_audience_is_refused() -> None:
    claims = {"sub": "wang", "roles": [], "aud": "elsewhere", "iss": "salesops", "exp": NOW.timestamp() + 60}
    kid = jwt.get_unverified_header(issue_token(KEY, "x", [], NOW))["kid"]
    token = jwt.encode(claims, KEY, algorithm="EdDSA", headers={"kid": kid})
    with pytest.raises(Unauthenticated):
        await embedded(FixedClock(NOW)).identify(bearer(token))


def test_a_body_actor_is_forbidden_unless_it_is_the_proven_user_in_a_role_they_hold() -> None:
    identity = Identity("wang", (Grant("salesperson", "EAST"),), NOW.timestamp() + 60)
    refuse_unproven_actor(identity, "wang", "salesperson")
    with pytest.raises(Forbidden):
        refuse_unproven_actor(identity, "wang", "general_manager")
    with pytest.raises(Forbidden):
        refuse_unproven_actor(identity, "li", "salesperson")


# ------------------------------------------------------------------ an OpenID Connect provider's key set


class KeySet:
    """The provider's published keys (``/certs``), served by a local HTTP server; keys can be rotated."""

    def __init__(self) -> None:
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.fetched = 0

    def rotate(self, kid: str) -> rsa.RSAPrivateKey:
        self.keys = {kid: rsa.generate_private_key(public_exponent=65537, key_size=2048)}
        return self.keys[kid]

    def document(self) -> bytes:
        self.fetched += 1
        keys = [
            {**RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "alg": "RS256", "use": "sig"}
            for kid, key in self.keys.items()
        ]
        return json.dumps({"keys": keys}).encode()


@contextlib.contextmanager
def serving(key_set: KeySet) -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = key_set.document()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/realms/salesops/protocol/openid-connect/certs"
    finally:
        server.shutdown()
        server.server_close()


def provider_token(key: rsa.RSAPrivateKey, kid: str, username: str, roles: list[str]) -> str:
    claims = {
        "iss": ISSUER,
        "aud": "salesops",
        "sub": "5b0c6d2e-uuid-of-keycloak",
        "preferred_username": username,
        "roles": roles,
        "exp": int((NOW + timedelta(minutes=5)).timestamp()),
    }
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


async def test_a_providers_token_is_verified_by_its_key_set_and_a_rotated_key_is_fetched() -> None:
    key_set = KeySet()
    first = key_set.rotate("k1")
    with serving(key_set) as url:
        verifier = Verifier(
            jwks=jwt.PyJWKClient(url, cooldown_duration=0),
            external_issuer=ISSUER,
            user_claim="preferred_username",
            clock=FixedClock(NOW),
        )
        identity = await verifier.identify(
            bearer(provider_token(first, "k1", "chen", ["regional_manager@EAST"]))
        )
        assert (identity.user, identity.regions("regional_manager")) == ("chen", {"EAST"})
        fetched = key_set.fetched
        await verifier.identify(bearer(provider_token(first, "k1", "li", ["finance"])))
        assert key_set.fetched == fetched  # the key set is cached

        second = key_set.rotate("k2")  # the provider rotates its key
        identity = await verifier.identify(bearer(provider_token(second, "k2", "chen", ["sales_vp"])))
        assert identity.holds("sales_vp")
        with pytest.raises(Unauthenticated):  # the retired key no longer signs anything new
            await verifier.identify(bearer(provider_token(first, "k1", "zhou", ["general_manager"])))


async def test_the_embedded_issuers_tokens_are_accepted_beside_a_providers() -> None:
    key_set = KeySet()
    provider_key = key_set.rotate("k1")
    with serving(key_set) as url:
        verifier = Verifier(
            KEY.public_key(),
            jwt.PyJWKClient(url),
            ISSUER,
            user_claim="preferred_username",
            clock=FixedClock(NOW),
        )
        ours = await verifier.identify(bearer(issue_token(KEY, "wang", [Grant("salesperson")], NOW)))
        theirs = await verifier.identify(bearer(provider_token(provider_key, "k1", "chen", ["finance"])))
    assert (ours.user, theirs.user) == ("wang", "chen")


async def test_a_providers_token_from_another_issuer_is_refused() -> None:
    key_set = KeySet()
    key = key_set.rotate("k1")
    with serving(key_set) as url:
        verifier = Verifier(jwks=jwt.PyJWKClient(url), external_issuer="https://other.example.com")
        with pytest.raises(Unauthenticated):
            await verifier.identify(bearer(provider_token(key, "k1", "chen", ["finance"])))


# -------------------------------------------------------------------------------------------- the CLI


async def test_the_cli_issues_a_token_the_services_accept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key_file = tmp_path / "signing.pem"
    cli(["--key", str(key_file), "key", "init"])
    public = capsys.readouterr().out
    cli(
        [
            "--key",
            str(key_file),
            "token",
            "issue",
            "--user",
            "wang",
            "--role",
            "salesperson",
            "--region",
            "EAST",
        ]
    )
    token = capsys.readouterr().out.strip()
    verifier = Verifier.from_settings(Settings(identity_public_key=public))
    identity = await verifier.identify(bearer(token))
    assert (identity.user, identity.grants) == ("wang", (Grant("salesperson", "EAST"),))
