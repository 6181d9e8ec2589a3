"""The FastAPI application: routers, error handling, and (optionally) the embedded workers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from meterbell import __version__, engine
from meterbell.api.errors import install_error_handlers
from meterbell.api.middleware import BodySizeLimit, NulInUrlRefusal
from meterbell.api.openapi import install_openapi
from meterbell.api.responses import JSONResponse
from meterbell.api.routes import (
    alerts,
    auth,
    bills,
    deadletters,
    entities,
    events,
    exports,
    external_mappings,
    health,
    integrations,
    measurements,
    metrics,
    notifications,
    scheduled,
    webhooks,
)
from meterbell.api.state import AppState
from meterbell.config import Settings
from meterbell.console.web import install_console
from meterbell.domain.download_links import DownloadSigner
from meterbell.domain.ratelimit import FailedSignIns, FailedTokenRequests
from meterbell.domain.secrets_box import SecretBox
from meterbell.domain.sessions import CsrfTokens
from meterbell.domain.tokens import TokenSigner
from meterbell.services.orgs import RevokedCredentials
from meterbell.store.db import Database
from meterbell.store.export_storage import ExportStorage

# Every router but the entity ones, in matching order.
ROUTERS = (
    health.router,
    metrics.router,
    auth.router,
    events.router,
    notifications.router,
    measurements.router,
    measurements.downloads,
    scheduled.router,
    exports.router,
    exports.downloads,
    webhooks.router,
    external_mappings.router,
    integrations.configs,
    integrations.run_routes,
    alerts.router,
    deadletters.router,
)

DESCRIPTION = (
    "Self-hostable events & notifications engine for usage-based billing. "
    "Speaks the m3ter API; see docs/api.md for where it extends it."
)


def create_app(
    settings: Settings, *, db: Database | None = None, run_workers: bool = True
) -> FastAPI:
    """Build the app. Pass `db` to share a store (tests); it is then not disposed here."""
    owns_db = db is None
    store = db or Database(settings.resolved_database_url)
    state = AppState(
        settings=settings,
        db=store,
        signer=TokenSigner(settings.resolved_secret_key),
        revoked=RevokedCredentials(store),
        failed_token_requests=FailedTokenRequests(
            settings.token_failure_limit, settings.token_failure_window_s
        ),
        box=SecretBox(settings.resolved_secret_key, settings.old_secret_key_list),
        downloads=DownloadSigner(settings.resolved_secret_key),
        storage=ExportStorage(settings),
        failed_sign_ins=FailedSignIns(
            settings.signin_failure_limit, settings.signin_failure_window_s
        ),
        csrf=CsrfTokens(settings.resolved_secret_key),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            async with engine.running(
                state.db, settings, run_workers=run_workers, storage=state.storage
            ):
                yield
        finally:
            if owns_db:
                await state.db.dispose()

    app = FastAPI(
        title="meterbell",
        version=__version__,
        description=DESCRIPTION,
        default_response_class=JSONResponse,
        lifespan=lifespan,
    )
    app.state.mb = state
    install_error_handlers(app)
    install_openapi(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(NulInUrlRefusal)
    # The entity routes match only entity paths (see routes/entities.py), so their place among
    # the routers changes no answer, but for `POST bills/approve`, which their `bills/{id}`
    # would take: the bills router goes first. Then them: they are the most requested.
    app.include_router(bills.router)
    app.include_router(entities.router)
    for router in ROUTERS:
        app.include_router(router)
    install_console(app)
    return app
