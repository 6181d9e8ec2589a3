"""Keys derived from MB_SECRET_KEY, one per purpose, so that no two uses share a key."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_BYTES = 32
TOKEN_SIGNING = "token signing"
ENCRYPTION_AT_REST = "encryption at rest"
DOWNLOAD_LINKS = "download links"


def derived_key(secret_key: str, purpose: str) -> bytes:
    """HKDF-SHA256 of the secret key for `purpose`: a key for one purpose tells nothing of
    the key for another, nor of the secret key."""
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=KEY_BYTES,
        salt=None,
        info=f"meterbell {purpose}".encode(),
    )
    return hkdf.derive(secret_key.encode())
