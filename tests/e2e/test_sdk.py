"""The official m3ter Python SDK against a real `meterbell serve` process, on each store.

The sync SDK client fetches a token through `POST /oauth/token` (HTTP Basic, JSON body)
before every call, so every test here exercises the token endpoint as the SDK uses it.
"""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import m3ter
import pytest
from m3ter.types import AccountResponse, CommitmentResponse
from m3ter.types.data_exports import UsageDataExportScheduleResponse

from meterbell.domain.clock import utcnow
from meterbell.domain.tokens import TokenClaims, TokenSigner
from tests.e2e.server import MeterbellServer
from tests.e2e.test_exports import finished

pytestmark = pytest.mark.slow

TOKEN_PATH = "/oauth/token"
START, END = "2026-01-01", "2026-12-31"


@dataclass
class RequestLog:
    """Every request the SDK's HTTP client sent, as (method, path, content-type)."""

    sent: list[tuple[str, str, str | None]] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> None:
        self.sent.append((request.method, request.url.path, request.headers.get("content-type")))

    def count(self, method: str, path: str) -> int:
        return sum(1 for m, p, _ in self.sent if m == method and p == path)


@dataclass
class Sdk:
    client: m3ter.M3ter
    log: RequestLog
    org_id: str

    def path(self, tail: str) -> str:
        return f"/organizations/{self.org_id}/{tail}"


@pytest.fixture(params=[False, True], ids=["lenient", "strict"])
def sdk(server: MeterbellServer, request: pytest.FixtureRequest) -> Iterator[Sdk]:
    """An SDK client for the default organization, with the library's default retries (2).
    The strict variant validates every response against the SDK's models (the spec's shapes)
    and raises on any that does not fit."""
    credentials = server.initial_credentials()
    log = RequestLog()
    http = httpx.Client(event_hooks={"request": [log]}, timeout=30.0)
    client = m3ter.M3ter(
        api_key=credentials.client_id,
        api_secret=credentials.client_secret,
        org_id=credentials.org_id,
        base_url=server.base_url,
        http_client=http,
        max_retries=2,
        _strict_response_validation=request.param,
    )
    try:
        yield Sdk(client, log, credentials.org_id)
    finally:
        client.close()


def new_account(client: m3ter.M3ter) -> AccountResponse:
    code = f"e2e-{uuid.uuid4().hex[:12]}"
    return client.accounts.create(code=code, email_address=f"{code}@example.com", name=code)


def new_commitment(client: m3ter.M3ter, account_id: str, **extra: Any) -> CommitmentResponse:
    return client.commitments.create(
        account_id=account_id,
        amount=100,
        currency="USD",
        start_date=START,
        end_date=END,
        extra_body=extra or None,
    )


def event_data(event: Any) -> dict[str, Any]:
    assert isinstance(event.m3ter_event, dict), event
    data = event.m3ter_event["eventData"]
    assert isinstance(data, dict), event.m3ter_event
    return data


def mark_handled(sdk: Sdk, resource_id: str) -> None:
    """Mark the resource's events handled (`POST …/events/{id}/action`): m3ter's spec requires
    `dtActioned`, which meterbell leaves null until someone does (docs/api.md), and the strict
    SDK refuses a null. Read untyped, as no model checks them."""
    params = {"resourceId": resource_id, "pageSize": 100}
    page = sdk.client.get(sdk.path("events"), cast_to=object, options={"params": params})
    assert isinstance(page, dict), page
    for event in page["data"]:
        sdk.client.post(sdk.path(f"events/{event['id']}/action"), cast_to=object)


def test_commitment_lifecycle_and_its_events(sdk: Sdk) -> None:
    client = sdk.client
    account = new_account(client)
    created = new_commitment(client, account.id)
    assert created.version == 1
    assert (created.account_id, created.amount, created.currency) == (account.id, 100, "USD")
    assert str(created.start_date) == START
    assert str(created.end_date) == END

    fetched = client.commitments.retrieve(created.id)
    assert (fetched.id, fetched.version, fetched.amount) == (created.id, 1, 100)
    assert fetched.version is not None

    updated = client.commitments.update(
        created.id,
        account_id=account.id,
        amount=200,
        currency="USD",
        start_date=START,
        end_date=END,
        version=fetched.version,
    )
    assert (updated.version, updated.amount) == (2, 200)
    assert updated.dt_created == created.dt_created

    deleted = client.commitments.delete(created.id)
    assert (deleted.id, deleted.version, deleted.amount) == (created.id, 2, 200)
    with pytest.raises(m3ter.NotFoundError):
        client.commitments.retrieve(created.id)

    # Every call above was preceded by a token request with a JSON body, and each worked.
    tokens = [ct for m, p, ct in sdk.log.sent if (m, p) == ("POST", TOKEN_PATH)]
    calls = [entry for entry in sdk.log.sent if entry[1] != TOKEN_PATH]
    assert len(tokens) == len(calls) == 6  # account, commitment, get, put, delete, get
    assert all(ct is not None and ct.startswith("application/json") for ct in tokens)

    # Events of this commitment, newest first; page size 1 makes the SDK walk three pages.
    mark_handled(sdk, created.id)
    listed_before = sdk.log.count("GET", sdk.path("events"))
    events = list(itertools.islice(client.events.list(resource_id=created.id, page_size=1), 10))
    assert [e.event_name for e in events] == [
        "configuration.commitment.deleted",
        "configuration.commitment.updated",
        "configuration.commitment.created",
    ]
    assert sdk.log.count("GET", sdk.path("events")) - listed_before == 3
    on_delete, on_update, on_create = (event_data(e) for e in events)
    assert set(on_create) == {"newDto"}
    assert set(on_update) == {"newDto", "oldDto"}
    assert set(on_delete) == {"oldDto"}
    new, old = on_update["newDto"], on_update["oldDto"]
    assert (new["id"], new["version"], new["amount"], new["orgId"]) == (
        created.id,
        2,
        200,
        sdk.org_id,
    )
    assert (old["id"], old["version"], old["amount"], old["orgId"]) == (
        created.id,
        1,
        100,
        sdk.org_id,
    )
    assert on_create["newDto"] == old
    assert on_delete["oldDto"] == new
    assert {"accountId", "currency", "startDate", "endDate", "dtCreated", "createdBy"} <= set(new)

    # One event fetched by id is the same as listed.
    one = client.events.retrieve(events[1].id)
    assert (one.id, one.event_name, one.m3ter_event) == (
        events[1].id,
        "configuration.commitment.updated",
        events[1].m3ter_event,
    )

    # Filtering by event name returns only that name, and includes ours.
    by_name = list(
        itertools.islice(
            client.events.list(event_name="configuration.commitment.updated", page_size=100), 1000
        )
    )
    assert {e.event_name for e in by_name} == {"configuration.commitment.updated"}
    assert events[1].id in {e.id for e in by_name}
    assert events[0].id not in {e.id for e in by_name}


def test_event_types_and_fields(sdk: Sdk) -> None:
    client = sdk.client
    types = client.events.get_types().events
    assert types is not None
    assert len(types) == len(set(types))
    assert {
        "configuration.commitment.created",
        "configuration.commitment.updated",
        "configuration.commitment.deleted",
        "billing.bill.created",
        "integration.perform.error",
        "ingest.validation.failure",
    } <= set(types)

    fields = client.events.get_fields(event_name="configuration.commitment.updated").events
    assert fields is not None
    assert list(fields) == ["configuration.commitment.updated"]
    commitment_fields = fields["configuration.commitment.updated"]
    assert commitment_fields["new.amount"] == "double"
    assert commitment_fields["old.amount"] == "double"
    assert commitment_fields["new.accountId"] == "string"
    assert commitment_fields["new.orgId"] == "string"

    created_fields = client.events.get_fields(event_name="configuration.commitment.created")
    assert created_fields.events is not None
    assert not any(
        name.startswith("old.")
        for name in created_fields.events["configuration.commitment.created"]
    )

    # A field the client starts sending (SDK `extra_body`) is kept and becomes discoverable.
    new_field = f"e2eTier{uuid.uuid4().hex[:6]}"
    account = new_account(client)
    commitment = new_commitment(client, account.id, **{new_field: "gold"})
    assert (
        client.commitments.with_raw_response.retrieve(commitment.id).http_response.json()[new_field]
        == "gold"
    )
    after = client.events.get_fields(event_name="configuration.commitment.created").events
    assert after is not None
    assert after["configuration.commitment.created"][f"new.{new_field}"] == "string"

    with pytest.raises(m3ter.BadRequestError, match=re.escape("configuration.commitment.updated")):
        client.events.get_fields(event_name="configuration.commitment.updatd")


def test_version_conflict_raises_conflict_error_without_retries(sdk: Sdk) -> None:
    client = sdk.client
    account = new_account(client)
    commitment = new_commitment(client, account.id)
    current = client.commitments.update(
        commitment.id,
        account_id=account.id,
        amount=150,
        currency="USD",
        start_date=START,
        end_date=END,
        version=1,
    )
    assert current.version == 2
    item_path = sdk.path(f"commitments/{commitment.id}")
    puts_before = sdk.log.count("PUT", item_path)

    with pytest.raises(m3ter.ConflictError) as caught:
        client.commitments.update(
            commitment.id,
            account_id=account.id,
            amount=999,
            currency="USD",
            start_date=START,
            end_date=END,
            version=1,
        )

    error = caught.value
    assert error.status_code == 409
    assert error.response.headers.get("x-should-retry") == "false"
    assert "version 2" in error.message
    assert "version 1" in error.message
    # The SDK retries a 409 twice unless told not to: exactly one PUT went out.
    assert sdk.log.count("PUT", item_path) - puts_before == 1
    # ... and the server changed nothing: same version, same amount, no extra event.
    stored = client.commitments.retrieve(commitment.id)
    assert (stored.version, stored.amount) == (2, 150)
    mark_handled(sdk, commitment.id)
    updates = list(
        client.events.list(resource_id=commitment.id, event_name="configuration.commitment.updated")
    )
    assert len(updates) == 1


def test_auto_paging_iterator_walks_every_page(sdk: Sdk) -> None:
    client = sdk.client
    account = new_account(client)
    made = [new_commitment(client, account.id).id for _ in range(5)]
    list_path = sdk.path("commitments")
    gets_before = sdk.log.count("GET", list_path)

    first_page = client.commitments.list(account_id=account.id, page_size=2)
    page_sizes = [len(page.data) for page in itertools.islice(first_page.iter_pages(), 10)]
    assert page_sizes == [2, 2, 1]

    seen = [
        c.id
        for c in itertools.islice(client.commitments.list(account_id=account.id, page_size=2), 20)
    ]
    assert len(seen) == len(set(seen)) == 5
    assert set(seen) == set(made)
    assert all(c.account_id == account.id for c in client.commitments.list(account_id=account.id))
    # Two walks of three pages each, then one single-page list.
    assert sdk.log.count("GET", list_path) - gets_before == 3 + 3 + 1


def test_handed_token_must_be_signed_with_the_servers_key(
    server: MeterbellServer, sdk: Sdk
) -> None:
    """The SDK can be given a token instead of credentials. One signed with MB_SECRET_KEY
    opens the organization; the same claims signed with any other key do not."""
    claims = TokenClaims(client_id=server.initial_credentials().client_id, org_id=sdk.org_id)

    def types_with_token(secret_key: str) -> list[str] | None:
        token = TokenSigner(secret_key).issue(claims, now=utcnow(), ttl=timedelta(minutes=5))
        client = m3ter.M3ter(
            api_key="unused",
            api_secret="unused",
            token=token,
            org_id=sdk.org_id,
            base_url=server.base_url,
            max_retries=0,
        )
        try:
            return client.events.get_types().events
        finally:
            client.close()

    assert types_with_token(server.secret_key)
    with pytest.raises(m3ter.AuthenticationError, match="not valid"):
        types_with_token("some-other-key")


def test_duplicate_code_is_a_conflict_sent_once(sdk: Sdk) -> None:
    code = f"e2e-{uuid.uuid4().hex[:12]}"
    sdk.client.accounts.create(code=code, email_address=f"{code}@example.com", name=code)
    posts_before = sdk.log.count("POST", sdk.path("accounts"))
    with pytest.raises(m3ter.ConflictError, match="already exists") as caught:
        sdk.client.accounts.create(code=code, email_address=f"{code}@example.com", name=code)
    assert caught.value.response.headers.get("x-should-retry") == "false"
    assert sdk.log.count("POST", sdk.path("accounts")) - posts_before == 1


def test_notification_webhook_and_integration_configuration(sdk: Sdk) -> None:
    """A rule delivered to a webhook, set up and taken down with the SDK's own methods. The
    webhook's host is a public IP literal: the server refuses private targets and this test
    needs no DNS."""
    client = sdk.client
    suffix = uuid.uuid4().hex[:8]
    rule = client.notification_configurations.create(
        code=f"spent-{suffix}",
        name="Commitment spent",
        description="tell billing",
        event_name="configuration.commitment.updated",
        calculation="new.amountSpent >= new.amount",
        active=False,  # nothing is sent to the address below
    )
    assert (rule.code, rule.active, rule.version) == (f"spent-{suffix}", False, 1)
    assert client.notification_configurations.retrieve(rule.id).id == rule.id
    assert rule.id in {r.id for r in client.notification_configurations.list(ids=[rule.id])}

    webhook = client.webhooks.create(**webhook_fields(suffix))
    assert webhook.credentials is not None
    assert (webhook.credentials.api_key, webhook.credentials.type) == (
        "key-1",
        "M3TER_SIGNED_REQUEST",
    )
    assert webhook.code is None
    coded = client.webhooks.update(
        webhook.id, **webhook_fields(suffix), code=f"hook-{suffix}", version=1
    )
    assert (coded.code, coded.version) == (f"hook-{suffix}", 2)
    assert client.webhooks.retrieve(webhook.id).code == f"hook-{suffix}"
    assert webhook.id in {w.id for w in client.webhooks.list(ids=[webhook.id])}

    config = client.integration_configurations.create(
        entity_type="Notification",
        entity_id=rule.id,
        destination="Webhook",
        destination_id=webhook.id,
        config_data={},
    )
    assert (config.entity_type, config.destination, config.enabled) == (
        "Notification",
        "Webhook",
        True,
    )
    fetched = client.integration_configurations.retrieve(config.id)
    assert (fetched.id, fetched.entity_id, fetched.destination_id) == (
        config.id,
        rule.id,
        webhook.id,
    )
    assert fetched.status == "WAITING"
    by_entity = client.integration_configurations.get_by_entity("Notification", entity_id=rule.id)
    assert by_entity.id == config.id
    listed = client.integration_configurations.list(destination_id=webhook.id)
    assert [c.id for c in listed] == [config.id]
    named = client.integration_configurations.update(
        config.id,
        entity_type="Notification",
        entity_id=rule.id,
        destination="Webhook",
        destination_id=webhook.id,
        name=f"to billing {suffix}",
        version=1,
    )
    assert (named.name, named.version) == (f"to billing {suffix}", 2)
    enabled = client.integration_configurations.enable(config.id)
    assert (enabled.id, enabled.enabled, enabled.version) == (config.id, True, 3)

    assert client.integration_configurations.delete(config.id).id == config.id
    assert client.webhooks.delete(webhook.id).id == webhook.id
    assert client.notification_configurations.delete(rule.id).id == rule.id


def test_slack_integration_configuration(sdk: Sdk) -> None:
    """As docs/integrations.md says: a Slack configuration through the SDK's own `credentials`
    parameter, the URL masked in every answer (strict: the answers fit the SDK's models)."""
    client = sdk.client
    suffix = uuid.uuid4().hex[:8]
    rule = client.notification_configurations.create(
        code=f"slack-{suffix}",
        name="Commitment spent",
        description="tell the channel",
        event_name="configuration.commitment.updated",
        calculation="new.amountSpent >= new.amount",
        active=False,  # nothing is sent to the address below
    )
    url = f"https://93.184.215.14/services/T0001/B0001/{suffix}Secret9Qa"
    config = client.integration_configurations.create(
        entity_type="Notification",
        entity_id=rule.id,
        destination="Slack",
        credentials={"type": "SLACK_WEBHOOK", "url": url},  # type: ignore[typeddict-unknown-key]
    )
    assert (config.destination, config.enabled, config.status) == ("Slack", True, "WAITING")
    fetched = client.integration_configurations.retrieve(config.id)
    shown = (fetched.model_extra or {})["credentials"]
    assert shown == {"type": "SLACK_WEBHOOK", "url": "https://93.184.215.14/…t9Qa"}
    assert url not in fetched.model_dump_json()
    assert client.integration_configurations.delete(config.id).id == config.id
    assert client.notification_configurations.delete(rule.id).id == rule.id


def test_export_destination_name_and_code_go_through_extra_body(sdk: Sdk) -> None:
    """As docs/exports.md says: the SDK has no `name`/`code` parameters for export
    destinations, which m3ter requires; `extra_body` carries them."""
    code = f"usage-{uuid.uuid4().hex[:8]}"
    created = sdk.client.data_exports.destinations.create(
        bucket_name="usage-bucket",
        iam_role_arn="arn:aws:iam::123456789012:role/meterbell-export",
        extra_body={"name": "Usage bucket", "code": code},
    )
    assert (created.name, created.code, created.bucket_name) == (
        "Usage bucket",
        code,
        "usage-bucket",
    )
    with pytest.raises(m3ter.BadRequestError, match="code"):
        sdk.client.data_exports.destinations.create(
            bucket_name="usage-bucket",
            iam_role_arn="arn:aws:iam::123456789012:role/meterbell-export",
            extra_body={"name": "No code"},
        )


def test_external_mappings_through_the_sdk(sdk: Sdk) -> None:
    mappings = sdk.client.external_mappings
    account = new_account(sdk.client)
    created = mappings.create(
        m3ter_entity="Account",
        m3ter_id=account.id,
        external_system="Stripe",
        external_table="Customer",
        external_id="cus_sdk",
    )
    assert (created.external_id, created.version) == ("cus_sdk", 1)
    assert mappings.retrieve(created.id).m3ter_id == account.id
    updated = mappings.update(
        created.id,
        m3ter_entity="Account",
        m3ter_id=account.id,
        external_system="Stripe",
        external_table="Customer",
        external_id="cus_sdk_2",
        version=1,
    )
    assert (updated.external_id, updated.version) == ("cus_sdk_2", 2)
    assert [m.id for m in mappings.list(m3ter_ids=[account.id])] == [created.id]
    assert [m.id for m in mappings.list_by_m3ter_entity(account.id, entity="Account")] == [
        created.id
    ]
    found = mappings.list_by_external_entity(
        "cus_sdk_2", system="Stripe", external_table="Customer"
    )
    assert [m.id for m in found] == [created.id]
    with pytest.raises(m3ter.ConflictError):
        mappings.create(
            m3ter_entity="Account",
            m3ter_id=account.id,
            external_system="Stripe",
            external_table="Customer",
            external_id="cus_twice",
        )
    assert mappings.delete(created.id).id == created.id
    with pytest.raises(m3ter.NotFoundError):
        mappings.retrieve(created.id)


def test_bills_approved_and_locked_through_the_sdk(sdk: Sdk) -> None:
    """`bills.update_status`, `bills.lock` and `bills.approve` answer in the SDK's models
    (strict); an HttpJson Bill configuration's credentials come back masked."""
    client = sdk.client
    account = new_account(client)
    body = {"accountId": account.id, "startDate": "2026-11-01", "endDate": "2026-12-01"}
    bills = [
        client.post(sdk.path("bills"), body={**body, "status": "PENDING"}, cast_to=object)
        for _ in range(2)
    ]
    ids = [str(bill["id"]) for bill in bills]  # type: ignore[index]
    approved = client.bills.update_status(ids[0], status="APPROVED")
    assert (approved.status, approved.version) == ("APPROVED", 2)
    locked = client.bills.lock(ids[0])
    assert (locked.locked, locked.version) == (True, 3)
    assert client.bills.approve(bill_ids=ids).message == ("Approved 1 bill; 1 was approved already")
    assert client.bills.retrieve(ids[1]).status == "APPROVED"
    config = client.integration_configurations.create(
        entity_type="Bill",
        entity_id=account.id,
        destination="HttpJson",
        config_data={"url": "https://93.184.215.14/invoices"},
        credentials={"type": "HTTP_BASIC", "username": "u", "password": "sdk-secret"},  # type: ignore[typeddict-unknown-key]
    )
    shown = client.integration_configurations.retrieve(config.id).model_extra or {}
    assert shown["credentials"] == {"type": "HTTP_BASIC", "username": "u", "password": "********"}
    assert client.integration_configurations.delete(config.id).id == config.id


WEBHOOK_CREDENTIALS: Any = {"type": "M3TER_SIGNED_REQUEST", "api_key": "key-1", "secret": "s3cret"}


def webhook_fields(suffix: str) -> dict[str, Any]:
    """A webhook to a public address (nothing is sent there: its rules stay inactive)."""
    return {
        "name": f"hook-{suffix}",
        "description": "billing receiver",
        "url": "https://93.184.215.14/hooks/m3ter",
        "credentials": WEBHOOK_CREDENTIALS,
    }


def test_webhook_deactivated_and_activated_again(sdk: Sdk) -> None:
    client = sdk.client
    suffix = uuid.uuid4().hex[:8]
    webhook = client.webhooks.create(**webhook_fields(suffix))
    assert webhook.active is True
    paused = client.webhooks.set_active(webhook.id, active=False)
    assert (paused.id, paused.active) == (webhook.id, False)
    assert client.webhooks.retrieve(webhook.id).active is False
    resumed = client.webhooks.set_active(webhook.id, active=True)
    assert (resumed.id, resumed.active) == (webhook.id, True)
    assert client.webhooks.delete(webhook.id).id == webhook.id


def test_scheduled_event_configuration_lifecycle(sdk: Sdk) -> None:
    configs = sdk.client.scheduled_event_configurations
    name = f"scheduled.bill.due{uuid.uuid4().hex[:8]}"
    created = configs.create(entity="Bill", field="dueDate", name=name, offset=-3)
    assert (created.name, created.entity, created.field, created.offset, created.version) == (
        name,
        "Bill",
        "dueDate",
        -3,
        1,
    )
    assert configs.retrieve(created.id).name == name
    updated = configs.update(
        created.id, entity="Bill", field="endDate", name=name, offset=2, version=1
    )
    assert (updated.id, updated.field, updated.offset, updated.version) == (
        created.id,
        "endDate",
        2,
        2,
    )
    assert [c.id for c in configs.list(ids=[created.id])] == [created.id]
    assert name in (sdk.client.events.get_types().events or [])
    deleted = configs.delete(created.id)
    assert (deleted.id, deleted.version) == (created.id, 2)
    with pytest.raises(m3ter.NotFoundError):
        configs.retrieve(created.id)


def test_export_destination_lifecycle(sdk: Sdk) -> None:
    destinations = sdk.client.data_exports.destinations
    code = f"usage-{uuid.uuid4().hex[:8]}"
    role = "arn:aws:iam::123456789012:role/meterbell-export"
    created = destinations.create(
        bucket_name="usage-bucket", iam_role_arn=role, extra_body={"name": "Usage", "code": code}
    )
    assert created.version == 1
    fetched = destinations.retrieve(created.id)
    assert (fetched.id, fetched.code, fetched.bucket_name) == (created.id, code, "usage-bucket")
    assert [d.id for d in destinations.list(ids=[created.id])] == [created.id]
    updated = destinations.update(
        created.id,
        bucket_name="usage-bucket-2",
        iam_role_arn=role,
        prefix="meterbell",
        partition_order="TYPE_FIRST",
        version=1,
        extra_body={"name": "Usage", "code": code},
    )
    assert (updated.bucket_name, updated.prefix, updated.partition_order, updated.version) == (
        "usage-bucket-2",
        "meterbell",
        "TYPE_FIRST",
        2,
    )
    deleted = destinations.delete(created.id)
    assert (deleted.id, deleted.bucket_name) == (created.id, "usage-bucket-2")
    with pytest.raises(m3ter.NotFoundError):
        destinations.retrieve(created.id)


def test_export_schedule_lifecycle_and_its_first_job(sdk: Sdk) -> None:
    schedules = sdk.client.data_exports.schedules
    code = f"weekly-{uuid.uuid4().hex[:8]}"
    named = {"name": "Weekly usage", "code": code}
    created = schedules.create(
        source_type="USAGE",
        time_period="LAST_7_DAYS",
        extra_body={**named, "scheduleType": "DAY", "period": 1, "offset": 3},
    )
    assert isinstance(created, UsageDataExportScheduleResponse)
    assert (created.time_period, created.version) == ("LAST_7_DAYS", 1)
    fetched = schedules.retrieve(created.id)
    assert isinstance(fetched, UsageDataExportScheduleResponse)
    assert (fetched.id, fetched.time_period) == (created.id, "LAST_7_DAYS")
    assert fetched.to_dict()["cronExpression"] == "0 3 */1 * *"
    updated = schedules.update(
        created.id,
        source_type="USAGE",
        time_period="YESTERDAY",
        version=1,
        extra_body={**named, "scheduleType": "HOUR", "period": 2, "offset": 30},
    )
    assert isinstance(updated, UsageDataExportScheduleResponse)
    assert (updated.id, updated.time_period, updated.version) == (created.id, "YESTERDAY", 2)
    listed = list(schedules.list(ids=[created.id]))
    assert [(s.id, s.code, s.schedule_type, s.period, s.cron_expression) for s in listed] == [
        (created.id, code, "HOUR", 2, "30 */2 * * *")
    ]

    # Creating the schedule queued its first run (in the same transaction): one job.
    jobs = list(sdk.client.data_exports.jobs.list(schedule_id=created.id))
    assert [(j.schedule_id, j.source_type) for j in jobs] == [(created.id, "USAGE")]
    job = sdk.client.data_exports.jobs.retrieve(jobs[0].id)
    assert (job.id, job.schedule_id) == (jobs[0].id, created.id)

    deleted = schedules.delete(created.id)
    assert isinstance(deleted, UsageDataExportScheduleResponse)
    assert (deleted.id, deleted.version) == (created.id, 2)
    with pytest.raises(m3ter.NotFoundError):
        schedules.retrieve(created.id)


def test_adhoc_export_job_listed_finished_and_downloadable(sdk: Sdk) -> None:
    client = sdk.client
    answer = client.data_exports.create_adhoc(
        source_type="OPERATIONAL", operational_data_types=["ACCOUNTS"]
    )
    job = finished(client, answer.job_id)
    assert (job.id, job.status, job.source_type, job.schedule_id) == (
        answer.job_id,
        "SUCCEEDED",
        "OPERATIONAL",
        None,
    )
    assert job.started_at is not None
    assert [j.id for j in client.data_exports.jobs.list(ids=[answer.job_id])] == [answer.job_id]
    link = client.data_exports.jobs.get_download_url(answer.job_id)
    assert link.url is not None
    assert link.expiration_time is not None
    assert link.expiration_time > utcnow()
    assert f"/dataexports/{answer.job_id}/" in link.url
    assert httpx.get(link.url, timeout=10.0).status_code == 200
