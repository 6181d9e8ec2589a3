"""A real S3 endpoint for tests: moto's server (S3 and STS) on a free loopback port.

    with running_s3_server() as server:       # or the `s3_server` session fixture
        server.apply_env(monkeypatch)          # fake AWS keys + MB_S3_* for this test only
        bucket = server.create_bucket()        # a fresh, uniquely named bucket
        settings = Settings(data_dir=tmp_path, s3_endpoint_url=server.endpoint_url)

`server.env` holds the same variables for `meterbell` subprocesses. `running_s3_server(
sts=False)` answers every non-S3 call with 501 NotImplemented, like an S3-compatible store
without STS (MinIO-less gateways, SeaweedFS, Garage…). moto keeps its state per process
(all servers in a process share buckets), so tests use unique bucket and role names.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

FAKE_ACCESS_KEY_ID = "meterbelltestaccesskey"
FAKE_SECRET_ACCESS_KEY = "meterbell-test-secret-access-key"
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
# Credential sources that could reach past the fake keys into a real AWS account.
UNSET_AWS_VARS = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_STS",
)

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

NOT_IMPLEMENTED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NotImplemented</Code>'
    b"<Message>A header you provided implies functionality that is not implemented"
    b"</Message></Error>"
)


def _s3_only(app: WsgiApp) -> WsgiApp:
    """Refuse signed requests for any service but S3 (the SigV4 credential scope says which)."""

    def filtered(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        auth = str(environ.get("HTTP_AUTHORIZATION", ""))
        if "Credential=" in auth and "/s3/aws4_request" not in auth:
            start_response(
                "501 Not Implemented",
                [
                    ("Content-Type", "application/xml"),
                    ("Content-Length", str(len(NOT_IMPLEMENTED))),
                ],
            )
            return [NOT_IMPLEMENTED]
        return app(environ, start_response)

    return filtered


@dataclass
class S3Server:
    endpoint_url: str
    region: str = REGION

    @property
    def env(self) -> dict[str, str]:
        """Variables for boto3 (fake keys, no instance metadata) and for meterbell."""
        return {
            "AWS_ACCESS_KEY_ID": FAKE_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_ACCESS_KEY,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": "/nonexistent/meterbell-test/aws-config",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/meterbell-test/aws-credentials",
            "MB_S3_ENDPOINT_URL": self.endpoint_url,
            "MB_S3_REGION": self.region,
        }

    def apply_env(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Set `env` (and unset other AWS credential sources) for the current test only."""
        for name in UNSET_AWS_VARS:
            monkeypatch.delenv(name, raising=False)
        for name, value in self.env.items():
            monkeypatch.setenv(name, value)

    @cached_property
    def client(self) -> S3Client:
        """A boto3 client of the test's own, independent of the environment."""
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=FAKE_ACCESS_KEY_ID,
            aws_secret_access_key=FAKE_SECRET_ACCESS_KEY,
            config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
        )

    def create_bucket(self, name: str | None = None) -> str:
        bucket = name or f"mb-test-{uuid.uuid4().hex[:16]}"
        self.client.create_bucket(Bucket=bucket)
        return bucket

    def read(self, bucket: str, key: str) -> bytes:
        return self.client.get_object(Bucket=bucket, Key=key)["Body"].read()

    def keys(self, bucket: str) -> list[str]:
        listing = self.client.list_objects_v2(Bucket=bucket)
        return [item["Key"] for item in listing.get("Contents", [])]

    def assumed_roles(self, role_arn: str) -> list[dict[str, str]]:
        """The STS sessions opened so far for `role_arn`, read from moto's in-process state
        (so only for servers started in this process)."""
        from moto.sts.models import sts_backends

        account = role_arn.split(":")[4]
        return [
            {
                "role_arn": role.role_arn,
                "session_name": role.session_name,
                "access_key_id": role.access_key_id,
            }
            for role in sts_backends[account]["aws"].assumed_roles
            if role.role_arn == role_arn
        ]


def role_arn(name: str | None = None) -> str:
    """An IAM role ARN in moto's account; unique unless named."""
    return f"arn:aws:iam::{ACCOUNT_ID}:role/{name or f'mb-export-{uuid.uuid4().hex[:12]}'}"


@contextmanager
def running_s3_server(*, sts: bool = True) -> Iterator[S3Server]:
    """moto's server on a free 127.0.0.1 port, stopped on exit (built like moto's
    ThreadedMotoServer, which cannot take the WSGI filter that `sts=False` needs)."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    class QuietHandler(MotoRequestHandler):
        def log_request(self, *args: Any, **kwargs: Any) -> None:
            pass  # one stderr line per request is noise; errors are still logged

    app: WsgiApp = DomainDispatcherApplication(create_backend_app)
    if not sts:
        app = _s3_only(app)
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="moto-s3", daemon=True
    )
    thread.start()
    try:
        yield S3Server(f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
