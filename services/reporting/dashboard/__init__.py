"""The sales-operations dashboard: server-rendered pages over the reports (see ``router``)."""

from services.reporting.dashboard.router import dashboard_router, login_page

__all__ = ["dashboard_router", "login_page"]
