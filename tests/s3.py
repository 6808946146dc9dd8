"""A real S3-compatible server for the object-storage tests: moto's HTTP server, started as a
subprocess on a free loopback port once per test session, with one bucket; each test that
asks for ``s3_media`` gets a prefix of its own in it and settings (the environment, which
worker subprocesses inherit) that put media there.

Loaded by ``tests/conftest.py`` as a plugin. Nothing leaves the machine: the credentials are
made up, boto3 reads no configuration file and asks no instance metadata.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app.config import Settings, get_settings
from tests.servers import free_port

BUCKET = "miscomp-test-media"
AWS_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "miscomp-test",
    "AWS_SECRET_ACCESS_KEY": "miscomp-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    bucket: str

    def client(self) -> Any:
        """A client of our own, to look into the bucket as the operator would."""
        import boto3

        return boto3.session.Session().client("s3", endpoint_url=self.endpoint_url)

    def keys(self, prefix: str) -> set[str]:
        """Every object key under ``prefix``."""
        pages = (
            self.client()
            .get_paginator("list_objects_v2")
            .paginate(Bucket=self.bucket, Prefix=prefix)
        )
        return {entry["Key"] for page in pages for entry in page.get("Contents", [])}


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    previous = {name: os.environ.get(name) for name in AWS_ENVIRONMENT}
    os.environ.update(AWS_ENVIRONMENT)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not _answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("moto's S3 server did not start")
            time.sleep(0.1)
        server = S3Server(endpoint_url=f"http://127.0.0.1:{port}", bucket=BUCKET)
        server.client().create_bucket(Bucket=BUCKET)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=30)
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@dataclass(frozen=True)
class S3Media:
    server: S3Server
    prefix: str
    """This test's folder in the bucket, ending in ``/``."""
    settings: Settings


@pytest.fixture
def s3_media(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[S3Media]:
    """Media in the bucket, under a prefix of this test's, for the web app made after this
    fixture, the factories, the worker steps run here and worker subprocesses started with
    ``os.environ``. The local media folder (uploads' staging) is the test's own, empty, so
    that a file written there by mistake is seen, not confused with another test's."""
    prefix = f"test-{uuid.uuid4().hex[:12]}/media/"
    monkeypatch.setenv("MISCOMP_MEDIA_ROOT", str(tmp_path / "local-media"))
    monkeypatch.setenv("MISCOMP_MEDIA_URL", f"s3://{s3_server.bucket}/{prefix}")
    monkeypatch.setenv("MISCOMP_S3_ENDPOINT_URL", s3_server.endpoint_url)
    get_settings.cache_clear()
    yield S3Media(server=s3_server, prefix=prefix, settings=get_settings())
    get_settings.cache_clear()  # the environment is restored next; settings are read anew
