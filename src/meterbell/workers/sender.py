"""Signed webhook requests: the one HTTP path meterbell sends them on (the deliverer's runs
and a destination's test notification alike). Each request is signed (domain/signing.py),
redirects are not followed, at most RESPONSE_BODY_LIMIT bytes of the answer are read, and
unless MB_WEBHOOK_ALLOW_PRIVATE is on, private, loopback and link-local targets are refused,
both literal addresses and names that resolve to them."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from meterbell.domain.integrations import AttemptOutcome, classify_response
from meterbell.domain.signing import SIGNATURE_HEADER, signed_headers
from meterbell.domain.urls import is_public_address

RESPONSE_BODY_LIMIT = 20_000


class PublicOnlyResolver(AbstractResolver):
    """Resolves host names, refusing private, loopback and link-local answers."""

    def __init__(self) -> None:
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        answers = await self._inner.resolve(host, port, family)
        private = [a["host"] for a in answers if not is_public_address(a["host"])]
        if private:
            raise OSError(f"{host} resolves to a non-public address ({private[0]})")
        return answers

    async def close(self) -> None:
        await self._inner.close()


def _literal_private_host(url: str) -> str | None:
    host = urlsplit(url).hostname or ""
    try:
        return None if is_public_address(host) else host
    except ValueError:
        return None


def _redacted(headers: dict[str, str]) -> dict[str, str]:
    return {k: ("[redacted]" if k == SIGNATURE_HEADER else v) for k, v in headers.items()}


@dataclass(frozen=True)
class Sent:
    """What one signed request came to."""

    outcome: AttemptOutcome
    status_code: int | None
    response_body: str
    request_headers: dict[str, str]  # the signature redacted
    seconds: float


class SignedSender:
    """Sends signed webhook requests over one pooled HTTP session (open it, then close it)."""

    def __init__(self, *, timeout_s: float, allow_private: bool, concurrency: int) -> None:
        self.timeout_s = timeout_s
        self.allow_private = allow_private
        self.concurrency = concurrency
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        resolver = None if self.allow_private else PublicOnlyResolver()
        connector = aiohttp.TCPConnector(
            limit=self.concurrency, limit_per_host=0, resolver=resolver, ttl_dns_cache=30
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self.timeout_s),
            auto_decompress=False,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def post(
        self, url: str, api_key: str, secret: str, body: bytes, delivery_id: str
    ) -> Sent:
        headers = signed_headers(url, api_key, secret, int(time.time() * 1000), body, delivery_id)
        started = time.perf_counter()
        status, response_text = None, ""
        try:
            outcome, status, response_text = await self._send(url, body, headers)
        except TimeoutError:
            outcome = AttemptOutcome(False, None, f"timed out after {self.timeout_s:g} s")
        except (aiohttp.ClientError, OSError) as exc:
            outcome = AttemptOutcome(False, None, f"connection failed: {exc}")
        seconds = time.perf_counter() - started
        return Sent(outcome, status, response_text, _redacted(headers), seconds)

    async def _send(
        self, url: str, body: bytes, headers: dict[str, str]
    ) -> tuple[AttemptOutcome, int, str]:
        assert self._session is not None
        if not self.allow_private and (host := _literal_private_host(url)):
            raise OSError(f"{host} is not a public address (MB_WEBHOOK_ALLOW_PRIVATE is off)")
        async with self._session.post(
            url, data=body, headers=headers, allow_redirects=False
        ) as response:
            raw = await response.content.read(RESPONSE_BODY_LIMIT)
            outcome = classify_response(response.status, response.headers.get("Retry-After"))
            return outcome, response.status, raw.decode("utf-8", errors="replace")
