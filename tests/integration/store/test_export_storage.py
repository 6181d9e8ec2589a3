"""ExportStorage against real endpoints: moto's S3/STS server over HTTP, and the file system."""

from __future__ import annotations

import hashlib
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from meterbell.config import Settings
from meterbell.domain.clock import utcnow
from meterbell.store.export_storage import GCS_UNSUPPORTED, ExportStorage, ExportStorageError
from tests.s3server import S3Server, role_arn, running_s3_server

KEY = "exports/orgId=org-1/date=2026-01-27/hour=10/type=measurements/job-1_measurements.csv.gz"


def s3_destination(bucket: str, **extra: Any) -> dict[str, Any]:
    return {
        "destinationType": "S3",
        "bucketName": bucket,
        "prefix": "exports",
        "partitionOrder": "TIME_FIRST",
        **extra,
    }


def local_destination(bucket: str = "reports") -> dict[str, Any]:
    return {"destinationType": "LOCAL", "bucketName": bucket, "prefix": "exports"}


GCS_DESTINATION = {
    "destinationType": "GCS",
    "bucketName": "gcs-bucket",
    "prefix": "exports",
    "projectNumber": "123456",
    "poolId": "pool",
    "providerId": "provider",
    "serviceAccountEmail": "export@project.iam.gserviceaccount.com",
}


@pytest.fixture
def export_file(tmp_path: Path) -> Path:
    path = tmp_path / "job-1_measurements.csv.gz"
    path.write_bytes(b"uid,meter,account\n" + os.urandom(4096))
    return path


@pytest.fixture
def storage(s3_settings: Settings) -> ExportStorage:
    return ExportStorage(s3_settings)


class Clock:
    """A clock the test moves by hand (for role credentials' expiry)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return utcnow() + self.offset


def http_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


# -- S3 -------------------------------------------------------------------------------------


def test_upload_to_s3_is_readable_by_another_client(
    storage: ExportStorage, s3: S3Server, s3_bucket: str, export_file: Path
) -> None:
    location = storage.upload(s3_destination(s3_bucket), export_file, KEY)

    assert location == f"s3://{s3_bucket}/{KEY}"
    assert s3.read(s3_bucket, KEY) == export_file.read_bytes()
    assert export_file.exists()  # the caller's file is left alone


def test_big_file_goes_up_in_parts(
    storage: ExportStorage, s3: S3Server, s3_bucket: str, tmp_path: Path
) -> None:
    big = tmp_path / "big.jsonl.gz"
    big.write_bytes(os.urandom(9 * 1024 * 1024))  # above boto3's 8 MiB multipart threshold

    storage.upload(s3_destination(s3_bucket), big, "exports/big.jsonl.gz")

    head = s3.client.head_object(Bucket=s3_bucket, Key="exports/big.jsonl.gz")
    assert head["ETag"].strip('"').endswith("-2")  # a multipart upload's ETag
    assert hashlib.sha256(s3.read(s3_bucket, "exports/big.jsonl.gz")).digest() == (
        hashlib.sha256(big.read_bytes()).digest()
    )


def test_presigned_url_serves_the_file_bytes(
    storage: ExportStorage, s3: S3Server, s3_bucket: str, export_file: Path
) -> None:
    destination = s3_destination(s3_bucket)
    storage.upload(destination, export_file, KEY)

    url = storage.download_url(destination, KEY, expires_s=300)

    assert url is not None
    assert url.startswith(f"{s3.endpoint_url}/{s3_bucket}/exports/")
    assert "X-Amz-Expires=300" in url
    assert http_get(url) == (200, export_file.read_bytes())


def test_missing_bucket_is_named_with_the_reason(storage: ExportStorage, export_file: Path) -> None:
    with pytest.raises(ExportStorageError) as raised:
        storage.upload(s3_destination("mb-no-such-bucket"), export_file, KEY)

    message = str(raised.value)
    assert message.startswith(f"S3 refused the upload of s3://mb-no-such-bucket/{KEY}: ")
    assert "NoSuchBucket: The specified bucket does not exist" in message


def test_missing_credentials_are_explained(
    s3_settings: Settings, s3_bucket: str, export_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")

    with pytest.raises(ExportStorageError, match="no AWS credentials found"):
        ExportStorage(s3_settings).upload(s3_destination(s3_bucket), export_file, KEY)


def test_missing_export_file_is_reported(
    storage: ExportStorage, s3_bucket: str, tmp_path: Path
) -> None:
    with pytest.raises(ExportStorageError, match=r"the export file .*gone\.csv does not exist"):
        storage.upload(s3_destination(s3_bucket), tmp_path / "gone.csv", KEY)


def test_upload_assumes_the_destination_role(
    storage: ExportStorage, s3: S3Server, s3_bucket: str, export_file: Path
) -> None:
    role = role_arn()
    destination = s3_destination(s3_bucket, iamRoleArn=role)

    with capture_logs() as logs:
        location = storage.upload(destination, export_file, KEY)
        url = storage.download_url(destination, KEY)

    assert location == f"s3://{s3_bucket}/{KEY}"
    assert s3.read(s3_bucket, KEY) == export_file.read_bytes()
    [session] = s3.assumed_roles(role)  # one session, reused for the link
    assert session["session_name"] == "meterbell-export"
    assert url is not None
    assert f"X-Amz-Credential={session['access_key_id']}" in url  # signed with the role's keys
    assert http_get(url) == (200, export_file.read_bytes())
    assert logs == []


def test_role_session_is_shared_between_threads(
    storage: ExportStorage, s3: S3Server, s3_bucket: str, export_file: Path
) -> None:
    role = role_arn()
    destination = s3_destination(s3_bucket, iamRoleArn=role)
    start = threading.Barrier(8)

    def upload(i: int) -> str:
        start.wait()
        return storage.upload(destination, export_file, f"exports/{i}.csv.gz")

    with ThreadPoolExecutor(8) as pool:
        locations = list(pool.map(upload, range(8)))

    assert locations == [f"s3://{s3_bucket}/exports/{i}.csv.gz" for i in range(8)]
    assert sorted(s3.keys(s3_bucket)) == sorted(f"exports/{i}.csv.gz" for i in range(8))
    assert len(s3.assumed_roles(role)) == 1


def test_role_credentials_are_renewed_before_they_expire(
    s3_settings: Settings, s3: S3Server, s3_bucket: str, export_file: Path
) -> None:
    clock = Clock()
    storage = ExportStorage(s3_settings, now=clock)
    role = role_arn()
    destination = s3_destination(s3_bucket, iamRoleArn=role)

    # moto's sessions last an hour of real time; the clock moves only ours.
    storage.upload(destination, export_file, KEY)
    storage.download_url(destination, KEY, expires_s=3000)  # 55 of 60 minutes needed
    assert len(s3.assumed_roles(role)) == 1

    clock.offset = timedelta(minutes=50)  # 10 minutes left: enough for an upload
    storage.upload(destination, export_file, KEY)
    assert len(s3.assumed_roles(role)) == 1

    storage.download_url(destination, KEY, expires_s=900)  # not for a 15-minute link
    assert len(s3.assumed_roles(role)) == 2

    storage.upload(destination, export_file, KEY)  # the renewed keys are kept
    assert len(s3.assumed_roles(role)) == 2


def test_role_on_an_endpoint_without_sts_falls_back_to_the_default_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, export_file: Path
) -> None:
    with running_s3_server(sts=False) as s3_only:
        s3_only.apply_env(monkeypatch)
        bucket = s3_only.create_bucket()
        storage = ExportStorage(Settings(data_dir=tmp_path, s3_endpoint_url=s3_only.endpoint_url))
        role = role_arn()
        destination = s3_destination(bucket, iamRoleArn=role)

        with capture_logs() as logs:
            storage.upload(destination, export_file, KEY)
            storage.upload(destination, export_file, KEY)

        assert s3_only.read(bucket, KEY) == export_file.read_bytes()
        assert s3_only.assumed_roles(role) == []
        [warning] = logs  # once: the fallback is remembered
        assert warning["log_level"] == "warning"
        assert warning["role"] == role
        assert warning["error"] == "HTTP 501 with no error code"


def test_unknown_destination_type_is_refused(storage: ExportStorage, export_file: Path) -> None:
    with pytest.raises(ExportStorageError, match="Unknown destination type 'AZURE'"):
        storage.upload({"destinationType": "AZURE", "bucketName": "b"}, export_file, KEY)


# -- GCS ------------------------------------------------------------------------------------


def test_gcs_is_not_supported(storage: ExportStorage, export_file: Path) -> None:
    with pytest.raises(ExportStorageError) as raised:
        storage.upload(GCS_DESTINATION, export_file, KEY)

    assert str(raised.value) == GCS_UNSUPPORTED
    assert "use an S3 or LOCAL destination" in str(raised.value)
    assert storage.download_url(GCS_DESTINATION, KEY) is None


# -- LOCAL ----------------------------------------------------------------------------------


@pytest.fixture
def local_storage(tmp_path: Path) -> ExportStorage:
    return ExportStorage(Settings(data_dir=tmp_path / "data"))


def files_under(folder: Path) -> Iterator[Path]:
    return (path for path in folder.rglob("*") if path.is_file())


def test_local_upload_lands_in_the_bucket_folder(
    local_storage: ExportStorage, tmp_path: Path, export_file: Path
) -> None:
    destination = local_destination()

    location = local_storage.upload(destination, export_file, KEY)

    expected = (tmp_path / "data" / "exports" / "local" / "reports" / KEY).resolve()
    assert local_storage.local_file(destination, KEY) == expected
    assert location == expected.as_uri()
    assert expected.read_bytes() == export_file.read_bytes()
    assert export_file.exists()
    assert list(files_under(tmp_path / "data")) == [expected]  # no temporary file left
    assert local_storage.download_url(destination, KEY) is None


def test_local_upload_replaces_an_earlier_file(
    local_storage: ExportStorage, tmp_path: Path, export_file: Path
) -> None:
    destination = local_destination()
    local_storage.upload(destination, export_file, KEY)
    newer = tmp_path / "newer.csv.gz"
    newer.write_bytes(b"newer")

    local_storage.upload(destination, newer, KEY)

    assert local_storage.local_file(destination, KEY).read_bytes() == b"newer"
    assert len(list(files_under(tmp_path / "data"))) == 1


@pytest.mark.parametrize(
    "key",
    [
        "../escape.csv",
        "exports/../../escape.csv",
        "/etc/escape.csv",
        "a//b.csv",
        "./a.csv",
        "a\\..\\b.csv",
        "a/..",
        "",
    ],
)
def test_local_upload_refuses_keys_that_leave_the_bucket(
    local_storage: ExportStorage, tmp_path: Path, export_file: Path, key: str
) -> None:
    with pytest.raises(ExportStorageError, match="object key"):
        local_storage.upload(local_destination(), export_file, key)
    with pytest.raises(ExportStorageError, match="object key"):
        local_storage.local_file(local_destination(), key)

    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("bucket", ["..", ".", "a/b", "../b", "a\\b"])
def test_local_upload_refuses_bucket_names_that_leave_the_folder(
    local_storage: ExportStorage, tmp_path: Path, export_file: Path, bucket: str
) -> None:
    with pytest.raises(ExportStorageError, match="Refusing LOCAL bucketName"):
        local_storage.upload(local_destination(bucket), export_file, "a.csv")

    assert not (tmp_path / "data").exists()


def test_local_upload_refuses_a_symlink_out_of_the_bucket(
    local_storage: ExportStorage, tmp_path: Path, export_file: Path
) -> None:
    bucket_folder = tmp_path / "data" / "exports" / "local" / "reports"
    bucket_folder.mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (bucket_folder / "exports").symlink_to(outside)

    with pytest.raises(ExportStorageError, match="it leaves the bucket"):
        local_storage.upload(local_destination(), export_file, "exports/a.csv")

    assert list(outside.iterdir()) == []


def test_local_file_is_only_for_local_destinations(local_storage: ExportStorage) -> None:
    with pytest.raises(ExportStorageError, match="S3 destinations keep no local files"):
        local_storage.local_file(s3_destination("some-bucket"), KEY)
