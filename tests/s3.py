"""S3 for tests: a real S3-compatible server on loopback (moto in server mode), the default storage in it, and
what the bucket holds."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.services import free_port, stop

BUCKET = "iclora-tests"


@pytest.fixture(scope="session")
def s3_endpoint(logs_dir: Path) -> Iterator[str]:
    import boto3

    port = free_port()
    moto = Path(sys.executable).parent / "moto_server"
    with (logs_dir / "moto.log").open("ab") as log:
        process = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", str(port)], stdout=log,
                                   stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(endpoint, timeout=1)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                 aws_secret_access_key="testing").create_bucket(Bucket=BUCKET)
    yield endpoint
    stop(process)


def s3_env(endpoint: str) -> dict[str, str]:
    return {"S3_BUCKET": BUCKET, "S3_ENDPOINT_URL": endpoint, "S3_REGION": "us-east-1",
            "S3_ACCESS_KEY_ID": "testing", "S3_SECRET_ACCESS_KEY": "testing", "S3_ADDRESSING_STYLE": "path"}


@pytest.fixture
def s3_storage(settings: Any, s3_endpoint: str) -> str:
    """Point Django's default storage at the bucket for this test."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {
            "bucket_name": BUCKET, "endpoint_url": s3_endpoint, "region_name": "us-east-1",
            "access_key": "testing", "secret_key": "testing", "addressing_style": "path",
            "file_overwrite": False, "default_acl": None, "querystring_auth": True, "signature_version": "s3v4",
        }},
    }
    return s3_endpoint


def bucket_keys(endpoint: str) -> list[str]:
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing")
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]
