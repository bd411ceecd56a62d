"""Dead letters: the messages a consumer gave up on, and how to look at them and send them again.

A ``DurableConsumer`` parks a message that failed on its last allowed delivery (or is not an envelope)
on ``<ns>.deadletter.<consumer>`` in the stream ``<NS>_DEADLETTER``, with headers naming the error,
the consumer, the original subject and stream sequence. Here:

``python -m shared.deadletter list [--consumer NAME] [--json]``   what is parked
``python -m shared.deadletter show SEQ``                          one parked message: headers + body
``python -m shared.deadletter redrive (SEQ ... | --all) [--consumer NAME]``

Re-driving publishes the parked body again on its original subject (so into its source stream) under a
new ``Nats-Msg-Id`` and, once JetStream acknowledged it, removes it from the dead letters. Every
consumer is idempotent per stored event (reporting per (service, position), orders' customer view per
(customer, version)), so re-driving a message that was in fact already applied changes nothing. A
message that fails again is parked again, under a new sequence.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

import nats
from nats.js.errors import NotFoundError

from shared.bus import nats_options
from shared.settings import Settings
from shared.subjects import dead_letter_stream, dead_letter_subject


@dataclass(frozen=True)
class Parked:
    seq: int
    parked_at: datetime | None
    consumer: str
    error: str
    original_subject: str
    source_stream: str
    source_sequence: int | None
    deliveries: int | None
    data: bytes

    @property
    def envelope(self) -> dict[str, Any] | None:
        try:
            value = json.loads(self.data)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def summary(self) -> dict[str, Any]:
        envelope = self.envelope or {}
        return {
            "seq": self.seq,
            "parked_at": self.parked_at.isoformat() if self.parked_at else None,
            "consumer": self.consumer,
            "original_subject": self.original_subject,
            "source_stream": self.source_stream,
            "source_sequence": self.source_sequence,
            "deliveries": self.deliveries,
            "event_type": envelope.get("event_type"),
            "aggregate_id": envelope.get("aggregate_id"),
            "position": envelope.get("position"),
            "error": self.error,
        }


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _parked(raw: Any) -> Parked:
    headers: dict[str, str] = raw.headers or {}
    return Parked(
        seq=raw.seq,
        parked_at=raw.time,
        consumer=headers.get("Salesops-Consumer", ""),
        error=headers.get("Salesops-Error", ""),
        original_subject=headers.get("Salesops-Original-Subject", ""),
        source_stream=headers.get("Salesops-Stream", ""),
        source_sequence=_int(headers.get("Salesops-Stream-Sequence")),
        deliveries=_int(headers.get("Salesops-Deliveries")),
        data=raw.data or b"",
    )


class DeadLetters:
    """The dead-letter stream of one namespace."""

    def __init__(self, js: Any, settings: Settings) -> None:
        self.js = js
        self.settings = settings
        self.stream = dead_letter_stream(settings.namespace)

    async def parked(self, consumer: str | None = None) -> list[Parked]:
        # ``next`` needs a subject filter (without one the server looks up the exact sequence only).
        subject = dead_letter_subject(self.settings.namespace, consumer or ">")
        parked: list[Parked] = []
        seq = 1
        while True:
            try:
                raw = await self.js.get_msg(self.stream, seq=seq, next=True, subject=subject)
            except NotFoundError:  # past the last one (or no dead-letter stream yet)
                return parked
            parked.append(_parked(raw))
            seq = raw.seq + 1

    async def get(self, seq: int) -> Parked:
        """The parked message with this sequence (``LookupError`` when there is none)."""
        try:
            return _parked(await self.js.get_msg(self.stream, seq=seq))
        except NotFoundError as error:
            raise LookupError(f"no parked message with sequence {seq}") from error

    async def redrive(self, seqs: Sequence[int]) -> list[Parked]:
        """Publish each parked message on its original subject again, then remove it from here."""
        done = []
        for seq in seqs:
            parked = await self.get(seq)
            if not parked.original_subject:
                raise ValueError(f"parked message {seq} does not name its original subject")
            # A new msg id: the original one may still be inside the stream's duplicate window.
            headers = {"Nats-Msg-Id": f"redrive-{self.stream}-{seq}", "Salesops-Redriven-From": str(seq)}
            await self.js.publish(parked.original_subject, parked.data, headers=headers)
            await self.js.delete_msg(self.stream, seq)
            done.append(parked)
        return done


def print_list(parked: list[Parked], out: TextIO) -> None:
    out.write(f"{len(parked)} parked message(s)\n")
    for p in parked:
        s = p.summary()
        when = s["parked_at"][:19] if s["parked_at"] else "-"
        what = f"{s['event_type'] or '?'} {s['aggregate_id'] or ''} pos {s['position']}"
        out.write(
            f"{p.seq:>6}  {when}  {p.consumer:<28} {p.original_subject}  {what}\n"
            f"        tries {p.deliveries}  error: {p.error[:160]}\n"
        )


def print_one(parked: Parked, out: TextIO) -> None:
    for key, value in parked.summary().items():
        out.write(f"{key:>16}: {value}\n")
    envelope = parked.envelope
    body = json.dumps(envelope, indent=2, ensure_ascii=False) if envelope else repr(parked.data[:2000])
    out.write(f"{'body':>16}:\n{body}\n")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m shared.deadletter", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("list", help="list parked messages")
    ls.add_argument("--consumer", help="only those parked by this durable consumer, e.g. reporting-orders")
    ls.add_argument("--json", action="store_true")
    sh = sub.add_parser("show", help="one parked message: its error, headers and body")
    sh.add_argument("seq", type=int)
    rd = sub.add_parser("redrive", help="publish parked messages on their original subject again")
    rd.add_argument("seqs", type=int, nargs="*")
    rd.add_argument("--all", action="store_true", help="every parked message (of --consumer)")
    rd.add_argument("--consumer")
    return p


async def run(args: argparse.Namespace, settings: Settings, out: TextIO = sys.stdout) -> int:
    nc = await nats.connect(name="deadletter-cli", **nats_options(settings))
    try:
        letters = DeadLetters(nc.jetstream(), settings)
        if args.command == "list":
            parked = await letters.parked(args.consumer)
            if args.json:
                out.write(json.dumps([p.summary() for p in parked], indent=2, ensure_ascii=False) + "\n")
            else:
                print_list(parked, out)
            return 0
        if args.command == "show":
            print_one(await letters.get(args.seq), out)
            return 0
        if args.all:
            seqs = [p.seq for p in await letters.parked(args.consumer)]
        elif args.seqs:
            seqs = list(args.seqs)
        else:
            out.write("name the sequences to re-drive, or --all\n")
            return 2
        for p in await letters.redrive(seqs):
            out.write(f"re-drove {p.seq} to {p.original_subject}\n")
        out.write(f"{len(seqs)} message(s) re-driven\n")
        return 0
    except (LookupError, ValueError) as error:
        out.write(f"{error}\n")
        return 1
    finally:
        await nc.close()


def main(argv: Sequence[str] | None = None) -> int:
    return asyncio.run(run(parser().parse_args(argv), Settings()))


if __name__ == "__main__":
    sys.exit(main())
