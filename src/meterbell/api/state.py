"""What the running application holds: settings, the store, the token signer and the
revoked credentials, wake-ups."""

from __future__ import annotations

from dataclasses import dataclass, field

from meterbell.config import Settings
from meterbell.domain.download_links import DownloadSigner
from meterbell.domain.ratelimit import FailedTokenRequests
from meterbell.domain.secrets_box import SecretBox
from meterbell.domain.tokens import TokenSigner
from meterbell.services.orgs import RevokedCredentials
from meterbell.store.db import Database
from meterbell.store.export_storage import ExportStorage
from meterbell.store.wakeups import Wakeups


@dataclass
class AppState:
    settings: Settings
    db: Database
    signer: TokenSigner
    revoked: RevokedCredentials
    failed_token_requests: FailedTokenRequests
    box: SecretBox
    downloads: DownloadSigner
    storage: ExportStorage
    wakeups: Wakeups = field(default_factory=Wakeups)
