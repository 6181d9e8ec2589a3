"""Bill integration credentials: which types a system takes, how each is carried, what is
shown of it, and the run a refusal ends."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from meterbell.domain.bill_credentials import parse_credentials, shown, static_headers
from meterbell.domain.connectors import CONNECTORS, auth_types
from meterbell.domain.errors import InvalidRequest
from meterbell.domain.integrations import (
    AUTHENTICATION_ERROR,
    AttemptOutcome,
    FinalFailure,
    RetryPolicy,
    RunStatus,
    next_step,
)

HTTP_JSON_TYPES = ("STATIC_API_KEY", "HTTP_BASIC", "OAUTH_CLIENT_CREDENTIALS")


def test_each_system_takes_its_auth_types() -> None:
    assert auth_types(CONNECTORS, "HttpJson", "Bill") == HTTP_JSON_TYPES
    assert auth_types(CONNECTORS, "stripe", "bill") == ("STATIC_API_KEY",)
    assert auth_types(CONNECTORS, "Slack", "Bill") == ()


@pytest.mark.parametrize(
    ("config_data", "expected"),
    [
        ({}, {"Authorization": "Bearer k-1"}),
        ({"apiKeyHeader": "authorization"}, {"authorization": "Bearer k-1"}),
        ({"apiKeyHeader": "X-Api-Key"}, {"X-Api-Key": "k-1"}),
    ],
)
def test_an_api_key_goes_in_its_header(
    config_data: dict[str, str], expected: dict[str, str]
) -> None:
    assert static_headers({"type": "STATIC_API_KEY", "apiKey": "k-1"}, config_data) == expected


def test_basic_credentials_are_one_header_and_oauth_none() -> None:
    basic = {"type": "HTTP_BASIC", "username": "Aladdin", "password": "open sesame"}
    assert static_headers(basic, {}) == {"Authorization": "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="}
    assert static_headers({"type": "OAUTH_CLIENT_CREDENTIALS"}, {}) == {}


def test_what_is_shown_keeps_no_secret() -> None:
    raw = {
        "type": "OAUTH_CLIENT_CREDENTIALS",
        "clientId": "cid",
        "clientSecret": "sssh",
        "tokenUrl": "https://ar.example/token",
        "name": "Ledger",
    }
    assert shown(parse_credentials(raw, HTTP_JSON_TYPES, "HttpJson")) == {
        **raw,
        "clientSecret": "********",
    }


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"type": "HTTP_BASIC", "username": "u"}, "'credentials.password'"),
        ({"type": "HTTP_BASIC", "username": "", "password": "p"}, "'credentials.username'"),
        ({"type": "STATIC_API_KEY", "apiKey": 42}, "'credentials.apiKey'"),
        ({"type": "M3TER_SIGNED_REQUEST"}, "must be one of STATIC_API_KEY"),
    ],
)
def test_bad_credentials_name_their_field(raw: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        parse_credentials(raw, HTTP_JSON_TYPES, "HttpJson")


def test_a_final_failure_ends_the_run_whatever_attempts_are_left() -> None:
    refused = FinalFailure(RunStatus.AUTH_FAILED, AUTHENTICATION_ERROR)
    outcome = AttemptOutcome(False, None, "HTTP 401", final=refused)
    step = next_step(outcome, 1, RetryPolicy(4, 2.0), datetime.now(UTC))
    assert (step.status, step.next_attempt_at, step.error) == (
        RunStatus.AUTH_FAILED,
        None,
        "HTTP 401",
    )
