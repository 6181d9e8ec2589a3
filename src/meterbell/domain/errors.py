"""Errors a use case reports to its caller; the API maps each to a status and `{"message"}`."""

from __future__ import annotations


class MeterbellError(Exception):
    """Base of every error that carries a message meant for the user."""

    status = 400

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class InvalidRequest(MeterbellError):
    status = 400


class Unauthorized(MeterbellError):
    status = 401


class Forbidden(MeterbellError):
    status = 403


class NotFound(MeterbellError):
    status = 404


class Conflict(MeterbellError):
    """The request clashes with the stored state: sending it again unchanged cannot succeed,
    so the m3ter SDK is told not to retry it (it retries every 409 otherwise)."""

    status = 409

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message, headers={"x-should-retry": "false", **(headers or {})})


class PayloadTooLarge(MeterbellError):
    status = 413


class TooManyRequests(MeterbellError):
    status = 429


class VersionConflict(Conflict):
    """The client's `version` is stale: retrying the same request cannot succeed."""

    def __init__(self, entity: str, entity_id: str, sent: object, stored: int) -> None:
        super().__init__(
            f"{entity} {entity_id} is at version {stored} but the request sent version {sent}: "
            "fetch the entity again and apply your change to the current version"
        )
