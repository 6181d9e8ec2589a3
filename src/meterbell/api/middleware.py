"""ASGI middleware: refuse request bodies over the size limit before reading them whole, and
URLs holding NUL before any route reads them."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from meterbell.api.responses import error_response
from meterbell.domain.request_limits import NUL_REFUSED, urlencoded_holds_nul


class BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large_message(self) -> str:
        return f"The request body is larger than {self.max_bytes} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await error_response(413, self._too_large_message())(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise BodyTooLarge
            return message

        try:
            await self.app(scope, counting_receive, send)
        except BodyTooLarge:
            await error_response(413, self._too_large_message())(scope, receive, send)


class NulInUrlRefusal:
    """A path or query string holding NUL (`%00`) is a 400 on both stores: PostgreSQL cannot
    compare text with NUL, so without this a NUL id or filter would be a 500 there only."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (
            "\x00" in scope["path"] or urlencoded_holds_nul(scope["query_string"])
        ):
            await error_response(400, f"The URL {NUL_REFUSED}")(scope, receive, send)
            return
        await self.app(scope, receive, send)
