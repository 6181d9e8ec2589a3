"""The console's templates (Jinja2, autoescaped), its navigation, and how pages render."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypedDict
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from meterbell.console.session import CSRF_FIELD, CSRF_HEADER, SignedIn
from meterbell.domain.pagination import Page
from meterbell.store.orgs import OrganizationRow

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
HTMX = "htmx-2.0.11.min.js"
# Pages are personal (never cached), and never framed by another site (clickjacking).
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "Referrer-Policy": "same-origin",
}
# Rows a list page shows.
PAGE_SIZE = 50


@dataclass(frozen=True)
class Section:
    label: str
    slug: str


# The navigation, in order; tests and users rely on these labels.
SECTIONS = (
    Section("Dashboard", "dashboard"),
    Section("Events", "events"),
    Section("Notifications", "notifications"),
    Section("Webhooks", "webhooks"),
    Section("Integrations", "integrations"),
    Section("Alerts", "alerts"),
    Section("Ingest", "ingest"),
    Section("Exports", "exports"),
    Section("Scheduled events", "scheduled-events"),
)


def utc_text(value: str | datetime) -> str:
    """`2026-12-05 12:30:05 UTC` from an ISO-8601 timestamp (or a datetime in UTC)."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


class PageLinks(TypedDict):
    """The links of a list page, as its template (`_pages.html`) takes them."""

    first_page: str | None
    next_page: str | None


def query_filters(query: Mapping[str, list[str]], names: Iterable[str]) -> dict[str, str]:
    """The filters of a list page: the last value the query gives each of `names`, if any."""
    return {name: query[name][-1] for name in names if query.get(name, [""])[-1]}


def page_links(
    path: str, filters: Mapping[str, str], query: Mapping[str, list[str]], page: Page
) -> PageLinks:
    """A list page's links: to the first page (when the query asked for a later one) and to
    the next (when there is one) of the list at `path` with these filters."""
    following = {**filters, "nextToken": page.next_token}
    return PageLinks(
        first_page=f"{path}?{urlencode(filters)}" if "nextToken" in query else None,
        next_page=f"{path}?{urlencode(following)}" if page.next_token else None,
    )


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
        headers={**PAGE_HEADERS, **(headers or {})},
    )
