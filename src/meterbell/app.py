"""The FastAPI application: routers, error handling, and (optionally) the embedded workers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from meterbell import __version__
from meterbell.api.errors import install_error_handlers
from meterbell.api.middleware import BodySizeLimit
from meterbell.api.responses import JSONResponse
from meterbell.api.routes import (
    auth,
    entities,
    events,
    exports,
    health,
    integrations,
    measurements,
    notifications,
    scheduled,
    webhooks,
)
from meterbell.api.state import AppState
from meterbell.config import Settings
from meterbell.domain.download_links import DownloadSigner
from meterbell.domain.ratelimit import FailedTokenRequests
from meterbell.domain.secrets_box import SecretBox
from meterbell.domain.tokens import TokenSigner
from meterbell.services import entities as entity_service
from meterbell.services.orgs import RevokedCredentials
from meterbell.store.db import Database
from meterbell.store.export_storage import ExportStorage
from meterbell.workers.runner import Workers

# Every router but the entity ones, in matching order.
ROUTERS = (
    health.router,
    auth.router,
    events.router,
    notifications.router,
    measurements.router,
    measurements.downloads,
    scheduled.router,
    exports.router,
    exports.downloads,
    webhooks.router,
    integrations.configs,
    integrations.run_routes,
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
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        workers = Workers(
            state.db,
            settings,
            state.wakeups,
            create_entity=entity_service.create_in,
            storage=state.storage,
        )
        state.wakeups.start_relay(state.db, listen=run_workers)
        if run_workers:
            await workers.start()
        try:
            yield
        finally:
            if run_workers:
                await workers.stop()
            await state.wakeups.stop_relay()
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
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    # The entity dispatcher first: it answers entity requests with one dictionary lookup and
    # declines every other path; the documented entity routes last (see routes/entities.py).
    entity_routers = entities.build_routers()
    app.include_router(entity_routers.dispatch)
    for router in ROUTERS:
        app.include_router(router)
    app.include_router(entity_routers.documented)
    return app
