"""The console's templates (Jinja2, autoescaped), its navigation, and how pages render."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from meterbell.console.session import CSRF_FIELD, CSRF_HEADER, SignedIn
from meterbell.store.orgs import OrganizationRow

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
HTMX = "htmx-2.0.11.min.js"


@dataclass(frozen=True)
class Section:
    label: str
    slug: str
    # What the page will hold, shown until it is built; None once it is.
    coming: str | None = None


# The navigation, in order; tests and users rely on these labels.
SECTIONS = (
    Section("Dashboard", "dashboard"),
    Section(
        "Events",
        "events",
        "Events filtered by name, category, resource and account, and marking them as actioned.",
    ),
    Section(
        "Notifications",
        "notifications",
        "Notification rules, with a live check of their calculation, and their runs.",
    ),
    Section("Webhooks", "webhooks", "Webhook destinations: create, edit, test, switch on and off."),
    Section(
        "Integrations",
        "integrations",
        "Integration configurations, their runs and attempts, Re-enable and Resend.",
    ),
    Section("Alerts", "alerts"),
    Section("Ingest", "ingest", "Measurements that failed validation, and their download."),
    Section("Exports", "exports", "Export destinations, schedules and jobs, and ad hoc exports."),
    Section("Scheduled events", "scheduled-events", "Scheduled event configurations."),
)
SECTIONS_BY_SLUG = {section.slug: section for section in SECTIONS}


def utc_text(value: str | datetime) -> str:
    """`2026-12-05 12:30:05 UTC` from an ISO-8601 timestamp (or a datetime in UTC)."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters["utc_text"] = utc_text
templates.env.globals.update(
    SECTIONS=SECTIONS, HTMX=HTMX, CSRF_FIELD=CSRF_FIELD, CSRF_HEADER=CSRF_HEADER
)


def render(
    request: Request,
    template: str,
    *,
    signed: SignedIn | None = None,
    org: OrganizationRow | None = None,
    section: str = "",
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        template,
        {"signed": signed, "org": org, "section": section, **context},
        status_code=status_code,
        headers={"Cache-Control": "no-store", **(headers or {})},
    )
