"""/openapi.json is a valid OpenAPI 3.1 document that declares what the routes really answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from meterbell.app import create_app
from meterbell.config import Settings

ERROR_STATUSES = {"400", "401", "403", "404", "409", "413"}


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    settings = Settings(data_dir=Path(tmp_path_factory.mktemp("data")), secret_key="k" * 32)
    return create_app(settings, run_workers=False).openapi()


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def test_the_document_is_valid_openapi_3(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_no_operation_declares_a_422_nor_a_bare_string(document: dict[str, Any]) -> None:
    assert len(operations(document)) > 200
    for method, path, operation in operations(document):
        assert "422" not in operation["responses"], (method, path)
        for content in operation["responses"]["200"]["content"].values():
            assert content["schema"] != {"type": "string"}, (method, path)
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_errors_are_declared_as_messages(document: dict[str, Any]) -> None:
    message = document["components"]["schemas"]["Message"]
    assert message["required"] == ["message"]
    for method, path, operation in operations(document):
        errors = ERROR_STATUSES & operation["responses"].keys()
        if path.startswith("/organizations/{orgId}"):
            assert {"400", "401", "403"} <= errors, (method, path)
        if method in ("post", "put", "delete"):
            assert "413" in errors, (method, path)  # the body limit comes before the route
        for status in errors:
            reference = operation["responses"][status]["$ref"]
            response = document["components"]["responses"][reference.rsplit("/", 1)[-1]]
            assert response["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/Message"
            }


@pytest.mark.parametrize(
    ("method", "path", "schema"),
    [
        ("put", "/organizations/{orgId}/commitments/{id}", "CommitmentResponse"),
        ("get", "/organizations/{orgId}/commitments", "PaginatedCommitmentResponseData"),
        ("get", "/organizations/{orgId}/events/{eventId}", "EventResponse"),
        ("post", "/organizations/{orgId}/integrationconfigs", "IntegrationConfigResponse"),
        (
            "post",
            "/organizations/{orgId}/integrationdestinations/webhooks",
            "WebhookDestinationResponse",
        ),
    ],
)
def test_m3ter_routes_answer_m3ters_schemas(
    document: dict[str, Any], method: str, path: str, schema: str
) -> None:
    declared = document["paths"][path][method]["responses"]["200"]["content"]["application/json"]
    assert declared["schema"] == {"$ref": f"#/components/schemas/{schema}"}
    assert schema in document["components"]["schemas"]


def test_each_entity_operation_has_its_own_request_schema(document: dict[str, Any]) -> None:
    put = document["paths"]["/organizations/{orgId}/commitments/{id}"]["put"]
    body = put["requestBody"]["content"]["application/json"]["schema"]
    assert {"accountId", "amount", "startDate"} <= body["properties"].keys()
    extension = document["paths"]["/organizations/{orgId}/extension/entities/metergroup"]
    assert extension["post"]["responses"]["200"]["content"]["application/json"]["schema"][
        "required"
    ] == ["id", "version"]


def test_organization_paths_declare_the_bearer_token(document: dict[str, Any]) -> None:
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    for method, path, operation in operations(document):
        needs_token = path.startswith("/organizations/{orgId}")
        assert (operation.get("security") == [{"bearerAuth": []}]) == needs_token, (method, path)
