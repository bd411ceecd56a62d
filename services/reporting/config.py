"""Reporting's settings: the shared ``Settings`` and its own (``SALESOPS_REPORTING_*``)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from shared.settings import Settings


class ReportingSettings(Settings):
    reporting_http: bool = True  # serve the HTTP API and dashboard on http_host:http_port
    # A dashboard session ends after this long without a request, and this long after sign-in at most
    # (or when the token signed in with expires, if sooner).
    reporting_session_idle_minutes: float = Field(default=30, gt=0)
    reporting_session_hours: float = Field(default=8, gt=0)

    def session_limits(self) -> tuple[timedelta, timedelta]:
        return timedelta(minutes=self.reporting_session_idle_minutes), timedelta(
            hours=self.reporting_session_hours
        )
