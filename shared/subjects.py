"""Subject and stream names of the bus contract, under a namespace (``salesops`` unless set)."""

from __future__ import annotations


def command_subject(namespace: str, service: str, command: str) -> str:
    return f"{namespace}.{service}.cmd.{command}"


def query_subject(namespace: str, service: str, query: str) -> str:
    return f"{namespace}.{service}.query.{query}"


def event_subject(namespace: str, service: str, event_type: str) -> str:
    return f"{namespace}.{service}.events.{event_type}"


def events_wildcard(namespace: str, service: str) -> str:
    return f"{namespace}.{service}.events.>"


def stream_name(namespace: str, service: str) -> str:
    return f"{namespace}_{service}".upper().replace(".", "_").replace("-", "_")


def dead_letter_subject(namespace: str, consumer: str) -> str:
    return f"{namespace}.deadletter.{consumer}"


def dead_letter_stream(namespace: str) -> str:
    return f"{namespace}_DEADLETTER".upper().replace(".", "_").replace("-", "_")
