"""An in-process S3 server (moto) on a free port, for integration tests and benchmarks.

moto keeps its backends in module globals: every ``MotoS3Server`` in one process serves the same
buckets, and ``reset()`` empties all of them.
"""

from __future__ import annotations

import logging
import time
import urllib.error
import urllib.request
from types import TracebackType
from typing import Self

import boto3
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

ACCESS_KEY = "test"
SECRET_KEY = "test"
REGION = "us-east-1"


class MotoS3Server:
    """Run moto's S3 API in a background thread; ``url`` is its endpoint once started."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._server: ThreadedMotoServer | None = None

    @property
    def url(self) -> str:
        """Return the endpoint URL, e.g. ``http://127.0.0.1:50123``."""
        if self._server is None:
            raise RuntimeError("MotoS3Server is not running: call start() first")
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> Self:
        """Start the server and wait until it answers HTTP requests."""
        if self._server is not None:
            return self
        # werkzeug logs every request at INFO to stderr; keep test output readable.
        werkzeug_logger = logging.getLogger("werkzeug")
        if werkzeug_logger.level == logging.NOTSET:
            werkzeug_logger.setLevel(logging.WARNING)
        server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        server.start()
        self._server = server
        self.port = server.get_host_and_port()[1]
        self._wait_until_ready(timeout)
        return self

    def stop(self) -> None:
        """Stop the server; buckets stay in moto's memory until ``reset()``."""
        if self._server is not None:
            self._server.stop()
            self._server = None

    def reset(self) -> None:
        """Delete every bucket and object (moto's ``POST /moto-api/reset``)."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST", data=b"")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    def _wait_until_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=2) as response:
                    response.read()
                    return
            except (urllib.error.URLError, OSError) as error:
                last_error = error
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"moto S3 server at {self.host}:{self.port} did not answer within {timeout}s: {last_error}")

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def s3_client(url: str, config: Config | None = None) -> BaseClient:
    """Return a boto3 S3 client for ``url`` with the test credentials (SigV4, path-style)."""
    base = Config(signature_version="s3v4", s3={"addressing_style": "path"})
    return boto3.client(
        "s3",
        endpoint_url=url,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name=REGION,
        config=base.merge(config) if config is not None else base,
    )


def create_bucket(url: str, name: str) -> None:
    """Create bucket ``name`` on the S3 server at ``url``; an existing bucket is fine."""
    try:
        s3_client(url).create_bucket(Bucket=name)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in {
            "BucketAlreadyOwnedByYou",
            "BucketAlreadyExists",
        }:
            raise
