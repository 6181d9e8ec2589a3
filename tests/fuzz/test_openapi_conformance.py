"""Every operation of /openapi.json, driven with requests generated from the document itself
(schemathesis), answers as the document says: a declared status code, the declared content
type, a body matching the declared schema. The requests carry a real token of a real
organization that holds one item of every kind, so that item paths name real items."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from meterbell.store.db import Database
from tests.conftest import OrgApi
from tests.integration.api.test_isolation import PATH_PARAM, Victim, fill, populate

CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES_PER_OPERATION = 4
REQUEST_TIMEOUT_S = 30


def real_path_parameters(path: str, org_id: str, victim: Victim) -> dict[str, str]:
    """Values for the path's parameters that name real items (as the isolation test fills them)."""
    if not path.startswith("/organizations/{orgId}"):
        return {"orgId": org_id} if "{orgId}" in path else {}
    pattern = re.escape(path).replace(r"\{", "{").replace(r"\}", "}")
    pattern = PATH_PARAM.sub(lambda m: f"(?P<{m.group(1)}>[^/]+)", pattern)
    found = re.fullmatch(pattern, fill(path, org_id, victim))
    assert found is not None, path
    return found.groupdict()


def httpx_arguments(kwargs: dict[str, Any]) -> dict[str, Any]:
    """A requests-style call (as schemathesis serializes a case) as httpx arguments."""
    arguments = {
        key: kwargs[key] for key in ("method", "url", "headers", "params") if key in kwargs
    }
    if "json" in kwargs:
        arguments["json"] = kwargs["json"]
    data = kwargs.get("data")
    if isinstance(data, dict):
        arguments["data"] = data
    elif data is not None:
        arguments["content"] = data
    return arguments


def describe(case: Any, response: httpx.Response, problem: BaseException) -> str:
    title = getattr(problem, "title", type(problem).__name__)
    message = getattr(problem, "message", str(problem))
    return f"{case.method} {case.formatted_path} -> {response.status_code}: {title}: {message}"


async def test_every_response_conforms_to_the_openapi_document(api: OrgApi, db: Database) -> None:
    document = (await api.client.get("/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(document)
    victim = await populate(api, db)
    loop = asyncio.get_running_loop()
    failures: list[str] = []
    sent = 0

    def send(case: Any) -> httpx.Response:
        kwargs = case.as_transport_kwargs(base_url="http://meterbell.test", headers=api.headers)
        request = api.client.request(**httpx_arguments(kwargs))
        return asyncio.run_coroutine_threadsafe(request, loop).result(REQUEST_TIMEOUT_S)

    def fuzz(operation: Any) -> None:
        fixed = real_path_parameters(operation.path, api.org_id, victim)

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(path_parameters=fixed))
        def run(case: Any) -> None:
            nonlocal sent
            response = send(case)
            sent += 1
            try:
                case.validate_response(response, checks=CHECKS)
            except BaseExceptionGroup as failure:  # all are reported at the end, not just one
                failures.extend(describe(case, response, problem) for problem in failure.exceptions)

        run()

    def fuzz_all() -> None:
        operations = [result.ok() for result in schema.get_all_operations()]
        for operation in sorted(operations, key=lambda operation: operation.method == "delete"):
            fuzz(operation)  # deletions last, so that the others find the items

    await asyncio.to_thread(fuzz_all)
    assert sent > 400
    assert not failures, f"{len(failures)} non-conforming responses:\n" + "\n\n".join(failures)
