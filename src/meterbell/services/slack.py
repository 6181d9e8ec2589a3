"""The credentials of a Slack integration configuration: the incoming-webhook URL, checked
like a webhook's URL (MB_WEBHOOK_ALLOW_PRIVATE, MB_WEBHOOK_HTTPS_ONLY), sealed with
MB_SECRET_KEY as webhook secrets are, and kept masked for show. The full URL is never
returned."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from meterbell.domain.errors import InvalidRequest
from meterbell.domain.integrations import SEALED_FIELDS, SEALED_URL, SLACK_DESTINATION
from meterbell.domain.secrets_box import SecretBox
from meterbell.domain.slack import MASK, SLACK_WEBHOOK, SlackCredentials, masked_url
from meterbell.domain.validation import validate_model
from meterbell.services.webhooks import check_url

SHAPE = '{"type": "SLACK_WEBHOOK", "url": "<the incoming-webhook URL>"}'


@dataclass(frozen=True)
class Sealing:
    """What checking and storing a destination's credentials needs: the box that seals
    them, and the rules for the URLs meterbell may call."""

    box: SecretBox
    allow_private: bool
    https_only: bool


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    credentials: SlackCredentials


def _kept(old: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The stored credentials of `old`, if it is a Slack configuration."""
    if old is None or old.get("destination") != SLACK_DESTINATION:
        return None
    return dict(old["credentials"])


def _sent(raw: object) -> SlackCredentials:
    if not isinstance(raw, Mapping):
        raise InvalidRequest(f"'credentials' must be an object: {SHAPE}")
    kind = raw.get("type")
    if kind is None:
        raise InvalidRequest(f"'credentials.type' is required: {SHAPE}")
    if kind != SLACK_WEBHOOK:
        raise InvalidRequest(
            f"'credentials.type' must be 'SLACK_WEBHOOK' for destination Slack (got {kind!r})"
        )
    if raw.get("url") is None:
        raise InvalidRequest("'credentials.url' is required: the Slack incoming-webhook URL")
    return validate_model(_Body, {"credentials": raw}).credentials


async def slack_credentials(
    raw: object, old: Mapping[str, Any] | None, sealing: Sealing
) -> dict[str, Any]:
    """The credentials to store for a Slack configuration given `raw` (None: keep those of
    `old`). Sending back the masked URL meterbell showed keeps the stored one too."""
    kept = _kept(old)
    if raw is None:
        if kept is None:
            raise InvalidRequest(f"'credentials' is required for destination Slack: {SHAPE}")
        return kept
    sent = _sent(raw)
    if kept is not None and sent.url == kept["url"]:
        return kept | ({"name": sent.name} if sent.name else {})
    if MASK in sent.url:
        raise InvalidRequest(
            "'credentials.url' is masked (as meterbell shows it): send the full incoming-webhook "
            "URL"
        )
    await check_url(
        sent.url,
        allow_private=sealing.allow_private,
        https_only=sealing.https_only,
        field="credentials.url",
    )
    stored = {"type": SLACK_WEBHOOK, "url": masked_url(sent.url)}
    if sent.name:
        stored["name"] = sent.name
    return stored | {SEALED_URL: sealing.box.seal(sent.url)}


def public_credentials(credentials: Mapping[str, Any]) -> dict[str, Any]:
    """Credentials as the API shows them: without anything sealed."""
    return {k: v for k, v in credentials.items() if k not in SEALED_FIELDS}
