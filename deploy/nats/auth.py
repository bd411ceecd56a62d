"""NATS users and permissions: each service may publish only its own events and serve only its own subjects.

Users: one per service (``customers``, ``orders``, ``complaints``, ``field``, ``reporting``) and department
feed (``marketing``, ``finance``, ``production``: O10), ``client``
(anyone who sends commands and queries: the demo, the dashboard's callers, load tools), one read-only user per
outside integrator (``integration``: reads the event streams through consumers of its own, nothing else)
and ``admin`` (operators: stream management, dead-letter re-drive). No anonymous access: with users
configured the server refuses a connection without valid credentials.

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
# O10: each department's feed (services/departments) runs under a user of its own, reading orders.
DEPARTMENTS = ("marketing", "finance", "production")
# The durable consumers each service runs: (name, source stream); DurableConsumer names them
# "<name>-<source>". A consumer missing here shows as a permission violation in test_nats_auth.py.
CONSUMERS: dict[str, tuple[tuple[str, str], ...]] = {
    "customers": (("customers-directory", "customers"),),
    "orders": (("orders", "customers"),),
    "complaints": (("complaints", "customers"),),
    "field": (("field", "customers"),),
    "reporting": tuple(("reporting", source) for source in WRITERS),
} | {department: ((department, "orders"),) for department in DEPARTMENTS}
SERVICE_USERS = (*WRITERS, "reporting", *DEPARTMENTS)
# Outside systems that read the events (docs/integration.md): each its own read-only user.
INTEGRATORS = ("integration",)
USERS = (*SERVICE_USERS, "client", *INTEGRATORS, "admin")


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


def _consumers_of_others(stream: str, names: list[str]) -> list[str]:
    """Every JetStream API and ack subject that touches one of these consumers of ``stream``."""
    subjects: list[str] = []
    for name in names:
        subjects += [
            f"$JS.API.CONSUMER.*.{stream}.{name}",  # INFO, DELETE, CREATE without a filter
            f"$JS.API.CONSUMER.*.*.{stream}.{name}",  # DURABLE.CREATE, MSG.NEXT, LEADER.STEPDOWN
            f"$JS.API.CONSUMER.CREATE.{stream}.{name}.>",
            f"$JS.ACK.{stream}.{name}.>",
        ]
    return subjects


def integrator_permissions(
    namespace: str, integrator: str, integrators: tuple[str, ...] = INTEGRATORS
) -> dict[str, Any]:
    """A read-only integrator: reads every service's event stream through consumers of its own.

    NATS permissions match whole tokens, and a consumer name is one token, so names cannot be scoped by
    a prefix. Instead the integrator may create and use consumers of any name on the event streams
    (ordered and ephemeral ones get random names, which no integrator can list), except the services'
    own consumers and the durable consumers named after another integrator: its durable consumer is the
    one named after itself. It cannot publish events or commands, change, purge or delete a stream, list
    consumers, or read the dead-letter stream.
    """
    publish = ["$JS.API.INFO", "$JS.API.STREAM.NAMES"]
    deny: list[str] = []
    for source in WRITERS:
        stream = stream_name(namespace, source)
        publish += [
            f"$JS.API.STREAM.INFO.{stream}",
            f"$JS.API.STREAM.MSG.GET.{stream}",
            f"$JS.API.DIRECT.GET.{stream}",
            f"$JS.API.DIRECT.GET.{stream}.>",
            f"$JS.API.CONSUMER.CREATE.{stream}",  # an ephemeral consumer named by the server
            f"$JS.API.CONSUMER.CREATE.{stream}.>",  # a named one, with or without a filter subject
            f"$JS.API.CONSUMER.DURABLE.CREATE.{stream}.*",
            f"$JS.API.CONSUMER.INFO.{stream}.*",
            f"$JS.API.CONSUMER.DELETE.{stream}.*",
            f"$JS.API.CONSUMER.MSG.NEXT.{stream}.*",
            f"$JS.ACK.{stream}.>",  # ack, nak, in-progress of what it was delivered
            f"$JS.FC.{stream}.>",  # flow-control replies of push and ordered consumers
        ]
        services = [f"{name}-{s}" for consumers in CONSUMERS.values() for name, s in consumers if s == source]
        others = [name for name in integrators if name != integrator]
        deny += _consumers_of_others(stream, services + others)
    return {
        "publish": {"allow": publish, "deny": deny},
        "subscribe": {"allow": ["_INBOX.>"]},
    }


def permissions(namespace: str, user: str, integrators: tuple[str, ...] = INTEGRATORS) -> dict[str, Any]:
    """The publish/subscribe permissions of one user."""
    if user in integrators:
        return integrator_permissions(namespace, user, integrators)
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
    integrators: tuple[str, ...] = INTEGRATORS,
) -> str:
    """The ``authorization { users = [...] }`` block; passwords from ``passwords``, or else from the
    environment of nats-server (``variable``, default ``$SALESOPS_NATS_PASSWORD_<USER>``)."""
    lines = ["authorization {", "  users = ["]
    for user in (*SERVICE_USERS, "client", *integrators, "admin"):
        secret = (
            json.dumps(passwords[user]) if passwords is not None else f"${password_variable(user, variable)}"
        )
        rules = json.dumps(permissions(namespace, user, integrators), indent=None)
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
