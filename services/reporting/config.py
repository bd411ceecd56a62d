"""Reporting's own settings (``SALESOPS_REPORTING_*``), beside the shared ``Settings``."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ReportingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SALESOPS_REPORTING_", frozen=True)

    http: bool = True  # serve the HTTP API and dashboard on Settings.http_host:http_port
    # A dashboard session ends after this long without a request, and this long after sign-in at most
    # (or when the token signed in with expires, if sooner).
    session_idle_minutes: float = Field(default=30, gt=0)
    session_hours: float = Field(default=8, gt=0)

    def session_limits(self) -> tuple[timedelta, timedelta]:
        return timedelta(minutes=self.session_idle_minutes), timedelta(hours=self.session_hours)
