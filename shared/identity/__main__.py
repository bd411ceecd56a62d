"""``python -m shared.identity token issue --user wang --role salesperson --region EAST``: a token of the
embedded issuer, printed; ``key init`` makes the signing key (``./salesops up`` does it), ``key public``
prints the public key the services verify with."""

from __future__ import annotations

import argparse
from datetime import timedelta
from pathlib import Path

from shared.clock import SystemClock
from shared.identity.tokens import Grant, ensure_signing_key, issue_token, load_signing_key, public_pem
from shared.settings import Settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m shared.identity")
    parser.add_argument(
        "--key",
        type=Path,
        default=None,
        help="the signing key (default: SALESOPS_IDENTITY_SIGNING_KEY_FILE, .state/identity/signing.pem)",
    )
    topics = parser.add_subparsers(dest="topic", required=True)
    token = topics.add_parser("token").add_subparsers(dest="action", required=True)
    issue = token.add_parser("issue", help="print a token for a user")
    issue.add_argument("--user", required=True)
    issue.add_argument(
        "--role", action="append", required=True, help="a role, or role@REGION; repeat for several"
    )
    issue.add_argument("--region", help="the region of every --role given without one (else company-wide)")
    issue.add_argument("--hours", type=float, default=8.0, help="how long the token is valid")
    key = topics.add_parser("key").add_subparsers(dest="action", required=True)
    key.add_parser("init", help="make the signing key if there is none; print its public key")
    key.add_parser("public", help="print the public key the services verify tokens with")
    args = parser.parse_args(argv)

    path = args.key or Path(Settings().identity_signing_key_file)
    if args.topic == "key":
        signing_key = (
            ensure_signing_key(path) if args.action == "init" else load_signing_key(path.read_bytes())
        )
        print(public_pem(signing_key), end="")
        return
    grants = [Grant.parse(role) for role in args.role]
    grants = [grant if grant.region else Grant(grant.role, args.region) for grant in grants]
    signing_key = load_signing_key(path.read_bytes())
    print(issue_token(signing_key, args.user, grants, SystemClock().now(), timedelta(hours=args.hours)))


if __name__ == "__main__":
    main()
