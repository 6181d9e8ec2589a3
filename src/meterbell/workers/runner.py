"""Starts and stops the workers: inside `meterbell serve` (embedded) or `meterbell worker`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

from meterbell import cancelling
from meterbell.config import Settings
from meterbell.domain.integrations import RetryPolicy
from meterbell.domain.secrets_box import SecretBox
from meterbell.store.db import Database
from meterbell.store.export_storage import ExportStorage
from meterbell.store.wakeups import Wakeup
from meterbell.workers.backfill import BackfillWorker
from meterbell.workers.deliverer import Deliverer, DeliveryLimits
from meterbell.workers.dispatcher import Dispatcher
from meterbell.workers.exporter import Exporter
from meterbell.workers.ingest import CreateEntity, IngestValidator
from meterbell.workers.isolation import Isolation
from meterbell.workers.loop import run_forever
from meterbell.workers.retention import Retention
from meterbell.workers.scheduler import Scheduler


def delivery_limits(settings: Settings) -> DeliveryLimits:
    return DeliveryLimits(
        policy=RetryPolicy(settings.delivery_attempts, settings.delivery_backoff_s),
        timeout_s=settings.delivery_timeout_s,
        auto_disable_after=settings.auto_disable_after,
        concurrency=settings.delivery_concurrency,
        destination_concurrency=settings.destination_concurrency,
        lease=timedelta(seconds=settings.delivery_lease_s),
        allow_private=settings.webhook_allow_private,
        max_item_failures=settings.max_item_failures,
        https_only=settings.webhook_https_only,
        warn_after=settings.auto_disable_warn_after,
        public_url=settings.public_url,
        stripe_api_base=settings.stripe_api_base,
    )


class Workers:
    """The dispatcher, the deliverer, the ingest validator, the scheduler, retention, the
    exporter (schedules and jobs) and the backfill worker, each in its own loop.

    Each waits for its wake-up (see store/wakeups.py), which the transactions that give it work
    raise once they commit (store/db.py `wake_after_commit`), in this process or, relayed,
    another: EVENTS_WRITTEN the dispatcher, RUNS_DUE the deliverer's claims (fresh firings are
    handed to the deliverer directly), MEASUREMENTS_RECEIVED the ingest validator,
    EXPORTS_QUEUED the exporter; or polls when none comes.
    `create_entity` is how the validator creates skeleton accounts.
    """

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        create_entity: CreateEntity,
        storage: ExportStorage | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.events_written = db.wakeups[Wakeup.EVENTS_WRITTEN]
        self.deliverer = Deliverer(
            db,
            SecretBox(settings.resolved_secret_key, settings.old_secret_key_list),
            delivery_limits(settings),
        )
        isolation = Isolation(db, max_failures=settings.max_item_failures)
        self.dispatcher = Dispatcher(db, receiver=self.deliverer, isolation=isolation)
        self.scheduler = Scheduler(
            db, retention_days=settings.event_retention_days, isolation=isolation
        )
        self.measurements_received = db.wakeups[Wakeup.MEASUREMENTS_RECEIVED]
        self.ingest = IngestValidator(
            db, create_entity, batch_size=settings.ingest_batch_size, isolation=isolation
        )
        self.retention = Retention(
            db, retention_days=settings.event_retention_days, isolation=isolation
        )
        self.exporter = Exporter(
            db, storage or ExportStorage(settings), settings.exports_dir, isolation=isolation
        )
        self.backfill = BackfillWorker(db, isolation=isolation)
        self._tasks: list[asyncio.Task[None]] = []

    def _loop(
        self,
        name: str,
        step: Callable[[], Awaitable[bool]],
        wake: asyncio.Event | None,
        idle_s: float,
    ) -> asyncio.Task[None]:
        return asyncio.create_task(run_forever(name, step, wake=wake, idle_s=idle_s))

    async def start(self) -> None:
        await self.deliverer.start()
        poll = self.settings.worker_poll_s
        exports_poll = self.settings.export_poll_s
        self._tasks = [
            self._loop("dispatcher", self.dispatcher.step, self.events_written, poll),
            self._loop("deliverer", self.deliverer.claim_step, self.deliverer.claim_wake, poll),
            self._loop("ingest", self.ingest.step, self.measurements_received, poll),
            self._loop("scheduler", self.scheduler.step, None, self.settings.scheduler_interval_s),
            self._loop("retention", self.retention.step, None, self.settings.retention_interval_s),
            self._loop("export-scheduler", self.exporter.schedule_step, None, exports_poll),
            self._loop("exporter", self.exporter.job_step, self.exporter.jobs_queued, poll),
            self._loop("backfill", self.backfill.step, None, poll),
        ]

    async def stop(self) -> None:
        await cancelling.stop(*self._tasks)
        self._tasks = []
        await self.deliverer.stop()
        await self.exporter.stop()
