"""What the running application holds: settings, the store, the token signer, wake-ups."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from meterbell.config import Settings
from meterbell.domain.download_links import DownloadSigner
from meterbell.domain.secrets_box import SecretBox
from meterbell.domain.tokens import TokenSigner
from meterbell.store.db import Database
from meterbell.store.export_storage import ExportStorage


@dataclass
class AppState:
    settings: Settings
    db: Database
    signer: TokenSigner
    box: SecretBox
    downloads: DownloadSigner
    storage: ExportStorage
    events_written: asyncio.Event = field(default_factory=asyncio.Event)
    runs_due: asyncio.Event = field(default_factory=asyncio.Event)
    measurements_received: asyncio.Event = field(default_factory=asyncio.Event)
    exports_queued: asyncio.Event = field(default_factory=asyncio.Event)
