"""NATS users and permissions: each service may publish only its own events and serve only its own subjects.

Users: one per service (``customers``, ``orders``, ``complaints``, ``field``, ``reporting``), ``client``
(anyone who sends commands and queries: the demo, the dashboard's callers, load tools) and ``admin``
(operators: stream management, dead-letter re-drive). No anonymous access: with users configured the
server refuses a connection without valid credentials.

Passwords are never written here: the generated configuration refers to environment variables
(``password: $SALESOPS_NATS_PASSWORD_CUSTOMERS`` ...), which nats-server resolves from its own
environment at start; each service process gets ``SALESOPS_NATS_USER``/``SALESOPS_NATS_PASSWORD`` from
its environment (``deploy/local/processes.py`` maps ``SALESOPS_NATS_PASSWORD_<SERVICE>`` onto them).
nats-server parses a variable's value as a configuration value: use passwords of letters and digits
that start with a letter (``p$(openssl rand -hex 16)``); one starting with a digit or ``-`` is refused.
Tests pass literal passwords of their own.

``python -m deploy.nats.auth [NAMESPACE]`` prints the ``authorization`` block; ``deploy/nats/auth.conf``
is its output for the default namespace (``tests/integration/test_nats_auth.py`` checks it is current).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from typing import Any

from shared.subjects import dead_letter_stream, stream_name

WRITERS = ("customers", "orders", "complaints", "field")
# The durable consumers each service runs: (name, source stream); DurableConsumer names them
# "<name>-<source>". A consumer missing here shows as a permission violation in test_nats_auth.py.
CONSUMERS: dict[str, tuple[tuple[str, str], ...]] = {
    "customers": (("customers-directory", "customers"),),
    "orders": (("orders", "customers"),),
    "field": (("field", "customers"),),
    "reporting": tuple(("reporting", source) for source in WRITERS),
}
SERVICE_USERS = (*WRITERS, "reporting")
USERS = (*SERVICE_USERS, "client", "admin")


PASSWORD_VARIABLE = "SALESOPS_NATS_PASSWORD_{USER}"


def password_variable(user: str, template: str = PASSWORD_VARIABLE) -> str:
    return template.format(USER=user.upper(), user=user)


def _stream_api(stream: str, operations: tuple[str, ...]) -> list[str]:
    return [f"$JS.API.STREAM.{op}.{stream}" for op in operations]


def _consumer_api(stream: str, durable: str) -> list[str]:
    return [
        f"$JS.API.CONSUMER.*.{stream}.{durable}",  # INFO, DELETE, MSG.NEXT is below
        f"$JS.API.CONSUMER.CREATE.{stream}.{durable}.>",  # create with a filter subject
        f"$JS.API.CONSUMER.DURABLE.CREATE.{stream}.{durable}",
        f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}",
        f"$JS.ACK.{stream}.{durable}.>",  # ack, nak, in-progress
    ]


def permissions(namespace: str, user: str) -> dict[str, Any]:
    """The publish/subscribe permissions of one user."""
    if user == "admin":
        return {"publish": {"allow": [">"]}, "subscribe": {"allow": [">"]}}
    if user == "client":
        return {
            "publish": {"allow": [f"{namespace}.*.cmd.>", f"{namespace}.*.query.>"]},
            "subscribe": {"allow": ["_INBOX.>"]},
        }
    if user not in SERVICE_USERS:
        raise ValueError(f"unknown user {user!r}")
    publish: list[str] = []
    subscribe = [f"{namespace}.{user}.cmd.>", f"{namespace}.{user}.query.>", "_INBOX.>"]
    if user in WRITERS:
        own = stream_name(namespace, user)
        # The relay reads the end of its stream back to resume (MSG.GET).
        publish += [
            f"{namespace}.{user}.events.>",
            *_stream_api(own, ("INFO", "CREATE", "UPDATE", "MSG.GET")),
        ]
    consumers = CONSUMERS.get(user, ())
    if consumers:
        publish += _stream_api(dead_letter_stream(namespace), ("INFO", "CREATE", "UPDATE"))
    for name, source in consumers:
        durable = f"{name}-{source}"
        publish.append(f"{namespace}.deadletter.{durable}")  # parking a message that keeps failing
        stream = stream_name(namespace, source)
        # A consumer makes sure the stream it reads exists (the same configuration as its owner's).
        api = _stream_api(stream, ("INFO", "CREATE", "UPDATE"))
        publish += [subject for subject in api if subject not in publish]
        publish += _consumer_api(stream, durable)
    # Replies to the commands and queries it received, and nothing else on inboxes.
    return {"publish": {"allow": publish}, "subscribe": {"allow": subscribe}, "allow_responses": True}


def authorization_block(
    namespace: str = "salesops",
    passwords: Mapping[str, str] | None = None,
    variable: str = PASSWORD_VARIABLE,
) -> str:
    """The ``authorization { users = [...] }`` block; passwords from ``passwords``, or else from the
    environment of nats-server (``variable``, default ``$SALESOPS_NATS_PASSWORD_<USER>``)."""
    lines = ["authorization {", "  users = ["]
    for user in USERS:
        secret = (
            json.dumps(passwords[user]) if passwords is not None else f"${password_variable(user, variable)}"
        )
        rules = json.dumps(permissions(namespace, user), indent=None)
        lines.append(f'    {{user: "{user}", password: {secret}, permissions: {rules}}}')
    lines += ["  ]", "}"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="Print the NATS users and permissions of the services.")
    parser.add_argument("namespace", nargs="?", default="salesops")
    parser.add_argument(
        "--variable",
        default=PASSWORD_VARIABLE,
        help="name of the environment variable holding each password ({USER} = the user, upper case), "
        "e.g. NATS_{USER}_PASSWORD",
    )
    args = parser.parse_args()
    example = password_variable("<user>", args.variable)
    print("# Generated by `python -m deploy.nats.auth`: users and permissions of the salesops services.")
    print(f"# Passwords come from nats-server's environment: {example}.")
    print(authorization_block(args.namespace, variable=args.variable))


if __name__ == "__main__":
    main()
