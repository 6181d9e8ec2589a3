"""Fixtures for object-storage tests: per test a fresh bucket and settings pointing at the
session's moto server (the `s3` fixture of tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from meterbell.config import Settings
from tests.s3server import S3Server


@pytest.fixture
def s3_bucket(s3: S3Server) -> str:
    return s3.create_bucket()


@pytest.fixture
def s3_settings(s3: S3Server, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data", s3_endpoint_url=s3.endpoint_url, s3_region=s3.region
    )
