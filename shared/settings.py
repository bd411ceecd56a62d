"""All settings come from environment variables prefixed ``SALESOPS_``; the DOMAIN.md decisions are here.

One tree: ``SalesopsSettings`` holds the prefix and what every process has (logging, the metrics
endpoint); ``Settings`` adds the infrastructure and the business decisions every service shares; a
service with settings of its own derives from ``Settings`` (``services/reporting/config.py``), so each
field is declared once."""

from __future__ import annotations

from decimal import Decimal
from functools import cached_property
from typing import Literal
from urllib.parse import quote

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SalesopsSettings(BaseSettings):
    """The root of the tree: the prefix, and the fields of every process (tools included)."""

    model_config = SettingsConfigDict(env_prefix="SALESOPS_", frozen=True)

    log_level: str = "INFO"
    log_format: str = "json"  # "json" (one object per line) or "text" (for a person at a terminal)
    metrics_host: str = "0.0.0.0"  # probes and scrapers come from outside the container
    metrics_port: int | None = None  # health, readiness and metrics endpoints; unset: off


class Settings(SalesopsSettings):
    # Infrastructure
    # One URL, or several separated by commas (the nodes of a cluster: the client fails over between them)
    nats_url: str = "nats://127.0.0.1:4222"
    nats_user: str | None = None
    nats_password: str | None = None
    # A host name, or the directory of the server's Unix socket (a path: /var/run/postgresql), cheaper
    # per round trip when the server is on the same machine
    postgres_host: str = "127.0.0.1"
    postgres_port: int = 5432
    postgres_user: str = "postgres"
    postgres_password: str = ""
    postgres_db: str = "salesops"
    # eventsourcing persistence; "eventsourcing.popo" keeps events in memory (fast unit tests, contract docs)
    persistence_module: str = "eventsourcing.postgres"
    # Root of every subject and stream name; tests set a unique one so runs never see each other.
    namespace: str = "salesops"
    # Copies of each JetStream stream: 3 on a 3-node cluster (one node may fail), 1 on a single server
    stream_replicas: int = 1
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    # A write service's threads for queries and jobs (they wait on the store most of the time); its
    # commands run in one thread of their own (shared/worker.py)
    query_threads: int = 16
    # Its store's connections at most (PostgreSQL's are few: 100 by default, shared by every process)
    store_connections: int = 8
    # Aggregates kept in memory between commands (eventsourcing's cache; each read checks for newer events)
    aggregate_cache_size: int = 10_000

    # Identity (shared/identity): the services verify every request's token with the embedded issuer's
    # public key (PEM) and/or an OpenID Connect provider's key set; with neither, every request is refused.
    identity_public_key: str | None = None
    identity_jwks_url: str | None = None
    identity_jwks_issuer: str | None = None  # the provider's ``iss`` (checked when given)
    identity_audience: str = "salesops"
    # the claim of the provider's tokens naming the user (``preferred_username`` for Keycloak)
    identity_user_claim: str = "sub"
    # Clients only (tests, demo, load tools, the token CLI): the embedded issuer's signing key
    identity_signing_key_file: str = ".state/identity/signing.pem"
    # For the benchmark's row of what verification costs only (deploy/bench/commands.py): requests are taken
    # as their body's actor claims, no token checked. Refused with NATS authentication configured, as every
    # deployment has it (``./salesops up``, compose, Kubernetes).
    identity_unverified_for_benchmark: bool = False

    # Consumers
    consumer_max_deliver: int = 5
    consumer_ack_wait_seconds: float = 30.0
    consumer_batch_size: int = 200

    # Business decisions (DOMAIN.md, marked "decision")
    major_reduction_pct: Decimal = Decimal("0.10")  # O2
    hold_deposit_min_pct: Decimal = Decimal("0.10")  # O9
    hold_hours: int = 72  # O9
    payment_terms_days: int = 30  # O11: where the customer has no terms of its own
    receivable_reminder_days: int = 3  # O11: the "due soon" reminder, days before the due date
    shipment_correction_days: int = 7  # O16: a short or wrong shipment is reported within, after shipping
    large_order_quantity: int = 100  # O8: a short order this large raises a production request
    hold_expiry_check_seconds: float = 60.0  # O9: how often the expiry job looks for due holds
    prepayment_discount_pct: Decimal = Decimal("0.03")  # C8
    complaint_ack_days: int = 1  # P7
    complaint_resolve_days: int = 7  # P7
    # P5: fine per incident by severity (yuan), the allowed range, and the dismissal threshold
    complaint_fines: dict[str, Decimal] = {
        "minor": Decimal("100"),
        "moderate": Decimal("150"),
        "serious": Decimal("200"),
        "severe": Decimal("200"),
    }
    complaint_fine_min: Decimal = Decimal("100")
    complaint_fine_max: Decimal = Decimal("200")
    dismissal_valid_complaints: int = 3  # P5: the 3rd valid service complaint ...
    dismissal_window_months: int = 12  # P5: ... within 12 months
    complaint_deadline_check_seconds: float = 60.0  # P7: how often the overdue scan runs (P8, P9 too)
    feedback_answer_days: int = 3  # P8
    feedback_escalation_ack_days: int = 1  # P8: the general manager acknowledges a major feedback
    after_sales_schedule_days: int = 2  # P9
    after_sales_complete_days: int = 7  # P9
    period_mode: Literal["close_28th", "calendar"] = "close_28th"  # R1
    # S2: visits a customer of each grade needs: (visits, per this many months)
    visit_frequency: dict[str, tuple[int, int]] = {"A": (4, 1), "B": (2, 1), "C": (1, 1), "D": (1, 3)}
    intelligence_ack_days: int = 1  # S4: an urgent report is acknowledged within
    intelligence_deadline_check_seconds: float = 60.0  # S4: how often the overdue scan runs

    @model_validator(mode="after")
    def _verified_where_deployed(self) -> Settings:
        if self.identity_unverified_for_benchmark and self.nats_user:
            raise ValueError(
                "SALESOPS_IDENTITY_UNVERIFIED_FOR_BENCHMARK is for the benchmark only: refused with NATS "
                "authentication configured (SALESOPS_NATS_USER)"
            )
        return self

    @cached_property
    def postgres_dsn(self) -> str:
        """A URL for psycopg and asyncpg alike; a host that is a path is the server's socket directory."""
        user = quote(self.postgres_user, safe="")
        password = f":{quote(self.postgres_password, safe='')}" if self.postgres_password else ""
        if self.postgres_host.startswith("/"):
            return (
                f"postgresql://{user}{password}@/{self.postgres_db}"
                f"?host={quote(self.postgres_host)}&port={self.postgres_port}"
            )
        return f"postgresql://{user}{password}@{self.postgres_host}:{self.postgres_port}/{self.postgres_db}"
