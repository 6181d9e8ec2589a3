"""Where export files go: the object stores behind data export destinations.

A destination is the dict the API stores (m3ter's fields): `destinationType` is `S3`, `GCS`
or `LOCAL` (ours: a folder `<exports_dir>/local/<bucketName>`), with `bucketName`, `prefix`,
`partitionOrder` and, for S3, `iamRoleArn`. Keys arrive complete (the prefix and partitions
already in them) as relative, slash-separated paths.

S3 goes through boto3 (any S3-compatible endpoint via `MB_S3_ENDPOINT_URL`), with the usual
AWS credential chain, or with temporary credentials from STS when the destination names a
role. Clients are cached per role and refreshed before their credentials expire. Every
failure becomes an `ExportStorageError` whose message says what went wrong and where.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import structlog
from boto3.exceptions import Boto3Error
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
)
from botocore.parsers import ResponseParserError

from meterbell.config import Settings
from meterbell.domain.clock import utcnow

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = structlog.get_logger(__name__)

S3 = "S3"
GCS = "GCS"
LOCAL = "LOCAL"
DESTINATION_TYPES = (S3, GCS, LOCAL)
LOCAL_FOLDER = "local"

ROLE_SESSION_NAME = "meterbell-export"
ROLE_SESSION_DURATION_S = 3600
# Assumed-role credentials are replaced this long before they expire, so an upload (or a
# presigned link) never starts on credentials about to lapse.
REFRESH_MARGIN = timedelta(minutes=5)
# A presigned link lives no longer than the credentials that signed it. Links up to this long
# get credentials that outlive them; longer ones end with their role session (at most an hour).
LONGEST_FULL_LINK = timedelta(minutes=45)

GCS_UNSUPPORTED = (
    "GCS destinations are not supported in this build: no GCS client is configured; "
    "use an S3 or LOCAL destination"
)
# What an S3-compatible endpoint without STS answers to AssumeRole (error codes, statuses).
STS_MISSING_CODES = frozenset(
    {
        "NotImplemented",
        "InvalidAction",
        "UnknownOperation",
        "UnknownOperationException",
        "UnsupportedOperation",
        "MethodNotAllowed",
        "InvalidRequest",
        "NotFound",
    }
)
STS_MISSING_STATUSES = frozenset({404, 405, 501})
EXPIRED_CODES = frozenset({"ExpiredToken", "ExpiredTokenException", "TokenRefreshRequired"})


class ExportStorageError(Exception):
    """A destination could not take (or serve) a file; the message says why, for people."""


@dataclass(frozen=True)
class _Client:
    s3: S3Client
    expires_at: datetime | None  # None: default-chain credentials (botocore refreshes them)

    def valid_for(self, needed: timedelta, now: datetime) -> bool:
        return self.expires_at is None or self.expires_at - now > needed


def destination_type(destination: Mapping[str, Any]) -> str:
    """The destination's type; m3ter does not require the field, so it is inferred if absent."""
    kind = destination.get("destinationType")
    if kind is None:
        return GCS if destination.get("projectNumber") else S3
    kind = str(kind).upper()
    if kind not in DESTINATION_TYPES:
        raise ExportStorageError(
            f"Unknown destination type {destination.get('destinationType')!r}: "
            f"expected one of {', '.join(DESTINATION_TYPES)}"
        )
    return kind


def _bucket(destination: Mapping[str, Any]) -> str:
    bucket = destination.get("bucketName")
    if not isinstance(bucket, str) or not bucket:
        raise ExportStorageError("The destination has no bucketName")
    return bucket


def _check_key(key: str) -> list[str]:
    """The key's segments; a key must be a relative path that stays inside its bucket."""
    if not key:
        raise ExportStorageError("The object key is empty")
    if key.startswith("/") or "\\" in key or "\x00" in key:
        raise ExportStorageError(
            f"Refusing object key {key!r}: keys are relative, slash-separated paths"
        )
    parts = key.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise ExportStorageError(
            f"Refusing object key {key!r}: empty, '.' and '..' path segments are not allowed"
        )
    return parts


def _check_local_bucket(bucket: str) -> None:
    if bucket in (".", "..") or any(c in bucket for c in "/\\\x00"):
        raise ExportStorageError(
            f"Refusing LOCAL bucketName {bucket!r}: it must be a single folder name "
            "(no '/', '\\', '.' or '..')"
        )


def _client_error_reason(error: ClientError) -> str:
    details = error.response.get("Error", {})
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    code, message = details.get("Code"), details.get("Message")
    if not code or code == str(status):  # botocore puts the status there when it finds none
        return f"HTTP {status} with no error code" + (f": {message}" if message else "")
    return f"{code}: {message or 'no message'}"


def _client_error(error: BaseException) -> ClientError | None:
    """The service's refusal behind `error`, if the service refused."""
    if isinstance(error, ClientError):
        return error
    # S3UploadFailedError wraps (without `from`) the ClientError that caused it.
    if isinstance(error, Boto3Error) and isinstance(error.__context__, ClientError):
        return error.__context__
    return None


def _reason(error: BaseException) -> str:
    """A short reason for any failure that can come out of boto3."""
    refusal = _client_error(error)
    if refusal is not None:
        return _client_error_reason(refusal)
    if isinstance(error, NoCredentialsError):
        return (
            "no AWS credentials found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "a profile, or an instance role)"
        )
    if isinstance(error, FileNotFoundError):
        return f"the export file {error.filename} does not exist"
    return f"{type(error).__name__}: {error}"


def _is_sts_missing(error: BaseException) -> bool:
    if isinstance(error, ResponseParserError):
        return True
    if isinstance(error, ClientError):
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = error.response.get("Error", {}).get("Code")
        return code in STS_MISSING_CODES or status in STS_MISSING_STATUSES
    return False


# Everything boto3 raises for a failed call (ResponseParserError is no BotoCoreError: an
# endpoint answered something unreadable), plus local I/O errors and botocore's ValueErrors
# ("Invalid endpoint").
FAILURES = (ClientError, BotoCoreError, Boto3Error, ResponseParserError, OSError, ValueError)


class ExportStorage:
    """Puts export files where their destination says; safe to share between threads."""

    def __init__(self, settings: Settings, *, now: Callable[[], datetime] = utcnow) -> None:
        self.settings = settings
        self.now = now  # for role credentials' expiry
        self.endpoint_url = settings.s3_endpoint_url or None
        self.region = settings.s3_region
        self._config = Config(
            region_name=self.region,
            signature_version="s3v4",
            retries={"mode": "standard", "max_attempts": 3},
            connect_timeout=10,
            read_timeout=60,
            # S3-compatible servers (MinIO, moto, Ceph…) rarely have per-bucket DNS names.
            s3={"addressing_style": "path" if self.endpoint_url else "auto"},
        )
        self._session: boto3.session.Session | None = None
        self._clients: dict[str | None, _Client] = {}
        self._locks: dict[str | None, threading.Lock] = {}
        self._guard = threading.Lock()

    # -- the interface --------------------------------------------------------------------

    def upload(self, destination: Mapping[str, Any], local_file: Path, key: str) -> str:
        """Store `local_file` at `key` in the destination; the location, for the job record.

        Synchronous and blocking (call it from a worker thread). The local file is left as is.
        """
        kind = destination_type(destination)
        if kind == GCS:
            raise ExportStorageError(GCS_UNSUPPORTED)
        bucket = _bucket(destination)
        _check_key(key)
        if kind == LOCAL:
            return self._upload_local(bucket, local_file, key)
        return self._upload_s3(destination, bucket, local_file, key)

    def download_url(
        self, destination: Mapping[str, Any], key: str, expires_s: int = 900
    ) -> str | None:
        """A presigned GET URL for an S3 object, valid for `expires_s` seconds; None for LOCAL
        and GCS destinations (the caller serves those itself). With a role, a link longer than
        45 minutes may end early, with its role session."""
        if destination_type(destination) != S3:
            return None
        bucket = _bucket(destination)
        _check_key(key)
        location = f"s3://{bucket}/{key}"
        try:
            needed = min(timedelta(seconds=expires_s), LONGEST_FULL_LINK) + REFRESH_MARGIN
            client = self._client(destination, needed)
            return client.generate_presigned_url(
                "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_s
            )
        except ExportStorageError:
            raise
        except FAILURES as error:
            raise ExportStorageError(
                f"Could not make a download link for {location}: {_reason(error)}"
            ) from error

    def local_file(self, destination: Mapping[str, Any], key: str) -> Path:
        """Where `upload` put `key` in a LOCAL destination."""
        kind = destination_type(destination)
        if kind != LOCAL:
            raise ExportStorageError(f"{kind} destinations keep no local files")
        return self._local_path(_bucket(destination), key)

    # -- LOCAL ----------------------------------------------------------------------------

    def _local_root(self, bucket: str) -> Path:
        _check_local_bucket(bucket)
        return (self.settings.exports_dir / LOCAL_FOLDER).resolve() / bucket

    def _local_path(self, bucket: str, key: str) -> Path:
        return self._local_root(bucket).joinpath(*_check_key(key))

    def _upload_local(self, bucket: str, local_file: Path, key: str) -> str:
        root = self._local_root(bucket)
        target = self._local_path(bucket, key)
        temp = target.parent / f".{target.name}.{uuid.uuid4().hex}.tmp"
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            # A symlinked folder inside the bucket must not lead outside it.
            if not target.parent.resolve().is_relative_to(root.resolve()):
                raise ExportStorageError(f"Refusing object key {key!r}: it leaves the bucket")
            # A copy, not a move or a hard link: the caller still owns its file.
            shutil.copyfile(local_file, temp)
            with open(temp, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(temp, target)
        except OSError as error:
            with contextlib.suppress(OSError):
                temp.unlink(missing_ok=True)
            raise ExportStorageError(
                f"Could not store {key} in LOCAL bucket {bucket} ({root}): {_reason(error)}"
            ) from error
        return target.as_uri()

    # -- S3 -------------------------------------------------------------------------------

    def _upload_s3(
        self, destination: Mapping[str, Any], bucket: str, local_file: Path, key: str
    ) -> str:
        location = f"s3://{bucket}/{key}"
        if not local_file.is_file():
            raise ExportStorageError(
                f"Could not upload {location}: the export file {local_file} does not exist"
            )
        client = self._client(destination, REFRESH_MARGIN)
        try:
            client.upload_file(str(local_file), bucket, key)
        except FAILURES as error:
            refusal = _client_error(error)
            if refusal is not None:
                if refusal.response.get("Error", {}).get("Code") in EXPIRED_CODES:
                    self._forget(destination)  # the next attempt assumes the role afresh
                message = f"S3 refused the upload of {location}: {_reason(refusal)}"
            elif isinstance(error, EndpointConnectionError):
                message = f"Could not reach S3 to upload {location}: {error}"
            else:
                message = f"Could not upload {location}: {_reason(error)}"
            raise ExportStorageError(message) from error
        return location

    def _forget(self, destination: Mapping[str, Any]) -> None:
        with self._guard:
            self._clients.pop(destination.get("iamRoleArn") or None, None)

    def _client(self, destination: Mapping[str, Any], needed: timedelta) -> S3Client:
        """A cached S3 client for the destination's role (or the default credentials) whose
        credentials stay valid for at least `needed`."""
        role_arn = destination.get("iamRoleArn") or None
        if role_arn is not None and not isinstance(role_arn, str):
            raise ExportStorageError(f"iamRoleArn must be a string, not {role_arn!r}")
        with self._guard:
            lock = self._locks.setdefault(role_arn, threading.Lock())
        with lock:  # one STS call per role at a time; other roles are not held up
            cached = self._clients.get(role_arn)
            if cached is not None and cached.valid_for(needed, self.now()):
                return cached.s3
            fresh = self._new_client(role_arn)
            self._clients[role_arn] = fresh
            return fresh.s3

    def _new_client(self, role_arn: str | None) -> _Client:
        try:
            with self._guard:  # boto3 sessions are not thread-safe; clients are
                if self._session is None:
                    self._session = boto3.session.Session(region_name=self.region)
                session = self._session
                if role_arn is None:
                    return _Client(self._s3_client(session), None)
                sts = session.client(
                    "sts",
                    endpoint_url=self.endpoint_url,
                    region_name=self.region,
                    config=self._config,
                )
        except FAILURES as error:
            raise ExportStorageError(f"Could not create an S3 client: {_reason(error)}") from error
        try:
            answer = sts.assume_role(
                RoleArn=role_arn,
                RoleSessionName=ROLE_SESSION_NAME,
                DurationSeconds=ROLE_SESSION_DURATION_S,
            )
        except FAILURES as error:
            if self.endpoint_url and _is_sts_missing(error):
                # Logged once per role: the fallback client is cached under the role.
                log.warning(
                    "the S3 endpoint has no STS; using the default credentials instead "
                    "of assuming the destination's role",
                    endpoint=self.endpoint_url,
                    role=role_arn,
                    error=_reason(error),
                )
                return self._new_client(None)
            raise ExportStorageError(
                f"Could not assume role {role_arn}: {_reason(error)}"
            ) from error
        credentials = answer["Credentials"]
        with self._guard:
            client = self._s3_client(
                session,
                aws_access_key_id=credentials["AccessKeyId"],
                aws_secret_access_key=credentials["SecretAccessKey"],
                aws_session_token=credentials["SessionToken"],
            )
        return _Client(client, credentials["Expiration"])

    def _s3_client(
        self,
        session: boto3.session.Session,
        *,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        aws_session_token: str | None = None,
    ) -> S3Client:
        return session.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            config=self._config,
            aws_access_key_id=aws_access_key_id,
            aws_secret_access_key=aws_secret_access_key,
            aws_session_token=aws_session_token,
        )
