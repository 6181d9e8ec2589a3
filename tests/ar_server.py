"""A real in-house accounts-receivable system for HttpJson tests: an aiohttp server on a free
loopback port.

`POST /invoices…` takes a bill if the request carries the expected `Authorization` (or other)
header and answers `{"id", "url"}`; it can be told to answer statuses in turn first (with
`{"message"}`). `POST /token` is an OAuth 2.0 token endpoint (client credentials, HTTP Basic)
that counts the tokens it gives. An invoice is made once per `Idempotency-Key`, as a real
system would: a repeated key answers the invoice it made."""

from __future__ import annotations

import asyncio
import base64
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from tests.receiver import serve_locally

CLIENT_ID = "meterbell-client"
CLIENT_SECRET = "client-secret-value"


@dataclass(frozen=True)
class Taken:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class ArServer:
    """What the server expects and what it got."""

    expected: dict[str, str] = field(default_factory=dict)  # header → value
    statuses: deque[tuple[int, str]] = field(default_factory=deque)
    requests: list[Taken] = field(default_factory=list)
    invoices: dict[str, str] = field(default_factory=dict)  # idempotency key → invoice id
    tokens_given: list[str] = field(default_factory=list)
    # Answers to hold back this long after making the invoice, one per bill, in turn: the
    # sender times out, as if the answer were lost.
    late_answers: deque[float] = field(default_factory=deque)
    # What a taken bill is answered with instead of `{"id", "url"}`, if set.
    taken_answer: Any = None
    port: int = 0
    _runner: web.AppRunner | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def answer(self, *statuses: tuple[int, str]) -> None:
        """Answer the next bills with these (status, message) in turn."""
        self.statuses.extend(statuses)

    def at(self, path: str) -> list[Taken]:
        return [r for r in self.requests if r.path == path]

    async def _invoice(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        self.requests.append(Taken(request.path, dict(request.headers), body))
        if any(request.headers.get(k) != v for k, v in self.expected.items()):
            return web.json_response({"message": "bad credentials"}, status=401)
        if self.statuses:
            status, message = self.statuses.popleft()
            return web.json_response({"message": message}, status=status)
        key = request.headers["Idempotency-Key"]
        invoice_id = self.invoices.setdefault(key, f"inv_{len(self.invoices) + 1}")
        if self.late_answers:
            await asyncio.sleep(self.late_answers.popleft())
        if self.taken_answer is not None:
            return web.json_response(self.taken_answer)
        return web.json_response({"id": invoice_id, "url": self.url(f"/i/{invoice_id}")})

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        pair = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {pair}":
            return web.json_response({"error": "invalid_client"}, status=401)
        if form.get("grant_type") != "client_credentials":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        token = f"token-{len(self.tokens_given) + 1}"
        self.tokens_given.append(token)
        return web.json_response({"access_token": token, "expires_in": 3600})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/token", self._token)
        app.router.add_post("/{tail:invoices.*}", self._invoice)
        self._runner, self.port = await serve_locally(app)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
