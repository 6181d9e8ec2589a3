"""What runs beside the API in `meterbell serve`, and alone in `meterbell worker`: the wake-up
relay between processes and, where this process runs them, the workers."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from meterbell.config import Settings
from meterbell.domain.errors import Unauthorized
from meterbell.services import entities, metrics
from meterbell.store.db import Database
from meterbell.store.export_storage import ExportStorage
from meterbell.workers.runner import Workers

log = structlog.get_logger(__name__)


@asynccontextmanager
async def running(
    db: Database,
    settings: Settings,
    *,
    run_workers: bool,
    storage: ExportStorage | None = None,
    metrics_port: int | None = None,
) -> AsyncIterator[None]:
    """The relay (listening when this process runs workers), the workers, and `/metrics` on
    `metrics_port` (a worker process, which serves no API), until the block ends; then the
    workers finish what they hold and hand the rest back."""
    workers = (
        Workers(db, settings, create_entity=entities.create_in, storage=storage)
        if run_workers
        else None
    )
    metrics_server = (
        await _serve_metrics(db, settings, metrics_port) if metrics_port is not None else None
    )
    db.wakeups.start_relay(db.url, listen=run_workers)
    if workers is not None:
        await workers.start()
    try:
        yield
    finally:
        if workers is not None:
            await workers.stop()
        await db.wakeups.stop_relay()
        if metrics_server is not None:
            await metrics_server.cleanup()


async def _serve_metrics(db: Database, settings: Settings, port: int) -> web.AppRunner:
    async def scrape(request: web.Request) -> web.Response:
        try:
            metrics.check_scraper(settings.metrics_token, request.headers.get("Authorization", ""))
        except Unauthorized as exc:
            return web.json_response({"message": exc.message}, status=401)
        body = await metrics.exposition(db)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/metrics", scrape)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, settings.host, port).start()
    log.info("serving /metrics", host=settings.host, port=port)
    return runner


async def until_signalled() -> None:
    """Wait for SIGTERM or SIGINT (a `meterbell worker` being stopped)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
