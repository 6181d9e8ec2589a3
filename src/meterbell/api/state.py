"""What the running application holds: settings, the store, the signers, the revoked
credentials, export storage, and the console's sign-in limits and CSRF tokens."""

from __future__ import annotations

from dataclasses import dataclass

from meterbell.config import Settings
from meterbell.domain.download_links import DownloadSigner
from meterbell.domain.ratelimit import FailedSignIns, FailedTokenRequests
from meterbell.domain.secrets_box import SecretBox
from meterbell.domain.sessions import CsrfTokens
from meterbell.domain.tokens import TokenSigner
from meterbell.services.orgs import RevokedCredentials
from meterbell.store.db import Database
from meterbell.store.export_storage import ExportStorage


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
    failed_sign_ins: FailedSignIns
    csrf: CsrfTokens
