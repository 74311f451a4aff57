"""Test and benchmark helpers: a real S3 endpoint on 127.0.0.1 that counts requests.

:class:`CountingS3Server` runs moto's S3 server (a real HTTP endpoint, no
mocks) in a thread and counts every HTTP request and the bytes in and out by
method, so tests can assert request budgets and benchmarks can print them.
Needs the ``test`` extra (moto[server]).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import boto3


@dataclass
class RequestCounts:
    """Requests and bytes seen by the server since the last :meth:`reset`."""

    requests: Counter = field(default_factory=Counter)
    bytes_out: Counter = field(default_factory=Counter)
    bytes_in: Counter = field(default_factory=Counter)

    @property
    def total(self) -> int:
        """All requests, any method."""
        return sum(self.requests.values())

    @property
    def total_bytes_out(self) -> int:
        """All response body bytes (what clients downloaded)."""
        return sum(self.bytes_out.values())

    def __str__(self) -> str:
        parts = ", ".join(f"{m} {n}" for m, n in sorted(self.requests.items()))
        return f"{self.total} requests ({parts}), {self.total_bytes_out:,} bytes down, {sum(self.bytes_in.values()):,} bytes up"


class _Counting:
    """WSGI middleware that counts requests and bytes by method."""

    def __init__(self, app: Callable, counts: RequestCounts, lock: threading.Lock, server: "CountingS3Server") -> None:
        self.app, self.counts, self.lock, self.server = app, counts, lock, server

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        if self.server.latency_s:
            time.sleep(self.server.latency_s)  # a stand-in for a real network round trip
        method = environ.get("REQUEST_METHOD", "?")
        size_in = int(environ.get("CONTENT_LENGTH") or 0)
        body = list(self.app(environ, start_response))
        with self.lock:
            self.counts.requests[method] += 1
            self.counts.bytes_in[method] += size_in
            self.counts.bytes_out[method] += sum(len(b) for b in body)
        return body


class CountingS3Server:
    """moto's S3 server on ``127.0.0.1`` (a free port), counting what it serves.

    ``latency_ms`` delays every request, to show how work behaves when it is
    bound by network round trips as on real S3 (requests overlap: the server
    is threaded).

    Examples
    --------
    >>> server = CountingS3Server().start()          # doctest: +SKIP
    >>> server.create_bucket("lab")                  # doctest: +SKIP
    >>> ws.save("s3://lab/ws", storage_options=server.storage_options)  # doctest: +SKIP
    """

    def __init__(self, latency_ms: float = 0.0) -> None:
        self.latency_s = latency_ms / 1000.0
        self.counts = RequestCounts()
        self._lock = threading.Lock()
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> "CountingS3Server":
        """Start serving; returns ``self``."""
        from moto.moto_server.threaded_moto_server import MotoRequestHandler
        from moto.server import create_backend_app
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        # moto's S3 application itself: moto's default dispatcher works out the AWS service
        # of every request by matching its host against every service's URL patterns, which
        # cost ~2 ms of the server's ~5.5 ms of CPU per small request (an S3 endpoint serves S3)
        app = _Counting(create_backend_app("s3"), self.counts, self._lock, self)
        self._server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._thread.join()  # type: ignore[union-attr]
            self._server = None

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def storage_options(self) -> dict[str, Any]:
        """fsspec/s3fs options that point at this server (no listing cache)."""
        return {
            "key": "testing",
            "secret": "testing",
            "endpoint_url": self.endpoint_url,
            "client_kwargs": {"region_name": "us-east-1"},
            "use_listings_cache": False,
        }

    def client(self) -> Any:
        """A boto3 S3 client for this server."""
        return boto3.client(
            "s3", endpoint_url=self.endpoint_url, aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
        )

    def create_bucket(self, name: str) -> None:
        """Create a bucket (ignored when it exists)."""
        client = self.client()
        try:
            client.create_bucket(Bucket=name)
        except client.exceptions.BucketAlreadyOwnedByYou:
            pass

    def reset_counts(self) -> RequestCounts:
        """Zero the counters; returns the counts collected so far."""
        with self._lock:
            old = RequestCounts(Counter(self.counts.requests), Counter(self.counts.bytes_out), Counter(self.counts.bytes_in))
            self.counts.requests.clear()
            self.counts.bytes_out.clear()
            self.counts.bytes_in.clear()
        return old
