"""Reporting's settings: the shared ``Settings`` and its own (``SALESOPS_REPORTING_*``)."""

from __future__ import annotations

import secrets

from pydantic import Field

from shared.settings import Settings


class ReportingSettings(Settings):
    # Reads (HTTP API and dashboard) need this token. Unset: a random one is made at start and logged,
    # so a forgotten setting never leaves the reports open.
    reporting_token: str = Field(default_factory=lambda: secrets.token_urlsafe(24), min_length=16)
    reporting_token_was_generated: bool = False
    reporting_http: bool = True  # serve the HTTP API and dashboard on http_host:http_port

    @classmethod
    def load(cls) -> ReportingSettings:
        loaded = cls()
        generated = "reporting_token" not in loaded.model_fields_set
        return loaded.model_copy(update={"reporting_token_was_generated": generated})
