"""Reporting's own settings (``SALESOPS_REPORTING_*``), beside the shared ``Settings``."""

from __future__ import annotations

import secrets

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ReportingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SALESOPS_REPORTING_", frozen=True)

    # Reads (HTTP API and dashboard) need this token. Unset: a random one is made at start and logged,
    # so a forgotten setting never leaves the reports open.
    token: str = Field(default_factory=lambda: secrets.token_urlsafe(24), min_length=16)
    token_was_generated: bool = False
    http: bool = True  # serve the HTTP API and dashboard on Settings.http_host:http_port

    @classmethod
    def load(cls) -> ReportingSettings:
        loaded = cls()
        generated = "token" not in loaded.model_fields_set
        return loaded.model_copy(update={"token_was_generated": generated})
