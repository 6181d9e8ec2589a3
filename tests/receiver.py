"""A real HTTP receiver for webhook tests: an aiohttp server on a free loopback port.

Each path can be told how to answer (status codes in turn, a delay, headers, or held until the
test releases it); every request that arrives is recorded with its headers, body and arrival
time.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web


@dataclass(frozen=True)
class Received:
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Behaviour:
    statuses: deque[int] = field(default_factory=deque)
    final_status: int = 200
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    hold: asyncio.Event | None = None


class Receiver:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self._behaviours: dict[str, Behaviour] = defaultdict(Behaviour)
        self._arrived = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def answer(
        self,
        path: str,
        *statuses: int,
        then: int = 200,
        delay_s: float = 0.0,
        headers: dict[str, str] | None = None,
        hold: asyncio.Event | None = None,
    ) -> None:
        """Answer `path` with `statuses` in turn, then `then` for ever; with `hold`, each
        answer waits until the test sets it (then `delay_s` more)."""
        self._behaviours[path] = Behaviour(deque(statuses), then, delay_s, headers or {}, hold)

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    async def wait_for(self, path: str, count: int, timeout_s: float = 10.0) -> list[Received]:
        """Wait until `count` requests reached `path`; fail after `timeout_s`."""
        async with asyncio.timeout(timeout_s), self._arrived:
            await self._arrived.wait_for(lambda: len(self.at(path)) >= count)
        return self.at(path)

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        behaviour = self._behaviours[request.path]
        async with self._arrived:
            self.received.append(
                Received(
                    request.path,
                    request.query_string,
                    dict(request.headers),
                    body,
                    time.monotonic(),
                )
            )
            self._arrived.notify_all()
        if behaviour.hold is not None:
            await behaviour.hold.wait()
        if behaviour.delay_s:
            await asyncio.sleep(behaviour.delay_s)
        status = behaviour.statuses.popleft() if behaviour.statuses else behaviour.final_status
        return web.Response(status=status, text=f"answer {status}", headers=behaviour.headers)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner, self.port = await serve_locally(app)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


async def serve_locally(app: web.Application) -> tuple[web.AppRunner, int]:
    """Serve `app` on a free loopback port: its runner (to clean up) and the port."""
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert server is not None
    return runner, server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
