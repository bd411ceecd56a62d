"""The AsyncAPI document of a service, generated from its routes and refined.

The routes are served by ``shared.bus`` on nats-py; FastStream, given the same routes and events,
writes the document: each command/query subject with its request schema and each event subject with
its envelope. It has no notion of the reply of a request: the refinement adds, for every command and
query operation, an AsyncAPI 3 ``reply`` whose payload is the reply contract
``{"ok": true, "result": <result>} | {"ok": false, "error": ErrorBody}``.
"""

from __future__ import annotations

import inspect
import json
from typing import Any

from faststream.nats import NatsBroker
from faststream.specification import AsyncAPI
from pydantic import BaseModel

from shared.bus import Route, ServiceBus, nats_options
from shared.contracts import ErrorBody
from shared.envelope import envelope_model
from shared.events import event_contract
from shared.identity.verify import AUTHORIZATION
from shared.subjects import event_subject

CONTRACT_NOTES = (
    "Commands and queries are NATS request/reply: the request body is JSON (at most 64 KiB; a larger one "
    "is refused with code too_large; NATS itself carries at most 1 MiB per message), the reply comes back "
    "on the request's NATS reply subject (the inbox the requesting client chose) and is "
    '{"ok": true, "result": {...}} or {"ok": false, "error": {"code", "message", "rule", "details"}} '
    "(ErrorBody; code from a fixed list). "
    "Every command and query but health carries a token of its sender in the NATS header "
    "'Authorization: Bearer <jwt>' (docs/integration.md); a missing, expired, tampered or wrongly signed "
    "token gets error code unauthenticated, a body whose actor is not the token's user in a role the "
    "token grants gets code forbidden, and so does a command on a customer outside the region the role is "
    "held in (a salesperson: not their own customer), with rule scope; none stores anything. "
    "An unknown command gets error code unknown_command; a body that "
    "breaks the schema gets code invalid naming each field in details.errors[]; a refused command names "
    "the DOMAIN.md rule in rule; a refused command stored nothing. A command's correlation_id may be sent "
    "in its body or as the NATS header correlation_id (the body's wins); it is copied into the envelope of "
    "every event the command causes. The same idempotency_key with the same body (correlation_id aside) "
    "returns the first reply and stores nothing new; the same key with another body is refused with code "
    "conflict and runs nothing. Money is a decimal string with at most 2 places. x-roles on a command "
    "operation (or a query not everyone may ask) lists the roles that may send it (a rule may narrow "
    "it: a quality complaint's handler is its sales_manager, a service complaint's the sales_vp or "
    "general_manager); another role gets code forbidden naming the rule. "
    "Events are published to JetStream stream <NAMESPACE>_<SERVICE> "
    "with header Nats-Msg-Id <service>-<position>; event_id is stable across re-sends. The stream holds "
    "them in store order, each once: every publish carries Nats-Expected-Last-Sequence and (but the first "
    "after the relay takes up) Nats-Expected-Last-Msg-Id, so JetStream refuses anything sent after a lost "
    "message and the relay sends again from there; an aggregate's events appear in aggregate_version "
    "order. Copies an operator re-sends (reconciliation, redriven dead letters) come later under other "
    "Nats-Msg-Id values: identify an event by (service, position)."
)

# The channel every reply travels on: NATS request/reply sends it to the reply subject of the request,
# which the requester's client chooses (an inbox); no header or body field carries it.
REPLY_CHANNEL = "replyInbox"


CREDENTIAL_HEADERS = {
    "type": "object",
    "properties": {
        AUTHORIZATION: {
            "type": "string",
            "pattern": "^Bearer .+",
            "description": "the sender's token (JWT): the embedded issuer's or the OpenID Connect provider's",
        }
    },
    "required": [AUTHORIZATION],
}


def asyncapi_document(bus: ServiceBus, version: str = "1.0.0") -> dict[str, Any]:
    spec = AsyncAPI(
        described_broker(bus),
        title=f"salesops {bus.service}",
        version=version,
        description=CONTRACT_NOTES,
    ).to_specification()
    document: dict[str, Any] = json.loads(spec.to_json())
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    messages = document["components"].setdefault("messages", {})
    error_body = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(error_body.pop("$defs", {}))
    schemas["ErrorBody"] = error_body
    replies: dict[str, Any] = {}
    document["channels"][REPLY_CHANNEL] = {
        "address": None,
        "title": "the request's reply inbox",
        "description": "NATS request/reply: each reply is sent to the reply subject of its request, an inbox "
        "the requesting client subscribed (e.g. _INBOX.<random>); the address is known only at run time.",
        "messages": replies,
    }
    for operation in document.get("operations", {}).values():
        if operation.get("action") != "receive":
            continue
        channel_ref = operation["channel"]["$ref"]
        route = bus.routes.get(document["channels"][channel_ref.split("/")[-1]]["address"])
        if route is None:
            continue
        if not route.public:
            for message in document["channels"][channel_ref.split("/")[-1]]["messages"].values():
                messages[message["$ref"].split("/")[-1]]["headers"] = CREDENTIAL_HEADERS
        reply_name = f"{route.name}Reply"
        schemas[reply_name] = _reply_schema(route.result, schemas)
        messages[reply_name] = {
            "title": reply_name,
            "payload": {"$ref": f"#/components/schemas/{reply_name}"},
        }
        replies[reply_name] = {"$ref": f"#/components/messages/{reply_name}"}
        if route.name in bus.roles:
            roles = bus.roles[route.name]
            operation["x-roles"] = roles
            verb = "send" if route.kind == "cmd" else "ask"
            operation["description"] = f"Roles that may {verb} it: {', '.join(roles)}."
        operation["reply"] = {
            "channel": {"$ref": f"#/channels/{REPLY_CHANNEL}"},
            "messages": [{"$ref": f"#/channels/{REPLY_CHANNEL}/messages/{reply_name}"}],
        }
    return document


def described_broker(bus: ServiceBus) -> NatsBroker:
    """A FastStream broker declaring the bus's routes and events: never started, only described."""
    broker = NatsBroker(nats_options(bus.settings)["servers"])
    for route in bus.routes.values():
        broker.subscriber(route.subject, queue=route.queue, title=route.subject)(_described(route))
    for event_class in bus.events:
        subject = event_subject(bus.settings.namespace, bus.service, event_class.__name__)
        broker.publisher(
            subject,
            title=subject,
            schema=envelope_model(event_class),
            description=_description(event_class),
        )
    return broker


def _description(event_class: type) -> str:
    """The event's docstring where it was declared (the first class with a pinned topic of its own: the
    aggregate's subclasses of it that the library makes have none), else its name. A class declared without
    one has the signature its dataclass wrote there instead (``Name(self, originator_id: 'UUID', ...``):
    never published."""
    declared = event_contract(event_class) or next(
        (cls for cls in event_class.__mro__ if "TOPIC" in vars(cls)), event_class
    )
    doc = declared.__doc__
    if not doc or doc.startswith(f"{declared.__name__}("):
        return event_class.__name__
    return inspect.cleandoc(doc)


def _described(route: Route) -> Any:
    """A stand-in handler whose signature and docstring describe the route's request."""

    async def handler(body: Any) -> None:
        raise NotImplementedError("documentation only: shared.bus serves the route")

    handler.__annotations__["body"] = route.model
    handler.__name__ = route.name
    handler.__doc__ = (route.model.__doc__ or route.name).strip()
    return handler


def _reply_schema(result: type[BaseModel] | None, schemas: dict[str, Any]) -> dict[str, Any]:
    result_schema: dict[str, Any] = {"type": "object"}
    if result is not None:
        # what the reply carries: the result as written (serialisation), e.g. a Decimal as its text
        full = result.model_json_schema(mode="serialization", ref_template="#/components/schemas/{model}")
        for name, definition in full.pop("$defs", {}).items():
            schemas.setdefault(name, definition)
        schemas.setdefault(result.__name__, full)
        result_schema = {"$ref": f"#/components/schemas/{result.__name__}"}
    return {
        "oneOf": [
            {
                "type": "object",
                "properties": {"ok": {"const": True}, "result": result_schema},
                "required": ["ok", "result"],
            },
            {
                "type": "object",
                "properties": {"ok": {"const": False}, "error": {"$ref": "#/components/schemas/ErrorBody"}},
                "required": ["ok", "error"],
            },
        ]
    }
