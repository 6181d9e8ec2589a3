"""Time-limited download links: a URL that carries its own expiry and an HMAC over the
resource and that expiry, so whoever holds it may fetch the resource until it expires (the
way m3ter hands out presigned object-store URLs), and nobody can forge or extend one."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta

from meterbell.domain.clock import isoformat
from meterbell.domain.errors import Forbidden
from meterbell.domain.keys import DOWNLOAD_LINKS, derived_key

LINK_LIFETIME = timedelta(minutes=5)
MAX_EXPIRY_DIGITS = 18  # a 64-bit time in seconds, so `int()` is cheap and the value storable


def _is_expiry(expires: str) -> bool:
    """Whether `expires` could be one we wrote: ASCII digits only (`isdigit` alone also
    accepts '²', which `int` refuses)."""
    return expires.isascii() and expires.isdigit() and len(expires) <= MAX_EXPIRY_DIGITS


class DownloadSigner:
    """Signs with a key derived from the service's secret key (never the key itself)."""

    def __init__(self, secret_key: str) -> None:
        self._key = derived_key(secret_key, DOWNLOAD_LINKS)

    def _signature(self, resource: str, expires: int) -> str:
        message = f"{resource}|{expires}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def sign(
        self, resource: str, now: datetime, lifetime: timedelta = LINK_LIFETIME
    ) -> dict[str, str]:
        """Query parameters that open `resource` for `lifetime` from `now`."""
        expires = int((now + lifetime).timestamp())
        return {"expires": str(expires), "signature": self._signature(resource, expires)}

    def check(self, resource: str, expires: str, signature: str, now: datetime) -> None:
        """Forbidden unless the link was signed here for `resource` and has not expired."""
        if not _is_expiry(expires) or not hmac.compare_digest(
            signature.encode(), self._signature(resource, int(expires)).encode()
        ):
            raise Forbidden("This download link is not valid: request a new one")
        if now.timestamp() >= int(expires):
            expired_at = isoformat(datetime.fromtimestamp(int(expires), now.tzinfo))
            raise Forbidden(f"This download link expired at {expired_at}: request a new one")
