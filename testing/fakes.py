"""The fake-platform toolkit, shipped for third-party connectors too: what every loopback fake
shares, so a platform's fake is its routes and data rules only.

    class FakeCrm(FakePlatform):
        name = "fake-crm"

        def __init__(self) -> None:
            super().__init__()
            self.contacts: dict[str, dict[str, Any]] = {}
            self.route("PUT", "/contacts/(?P<id>[^/]+)", "PUT /contacts/{id}", self._put)

        def authorize(self, request, kind):              # None lets the request through
            return None if request.headers.get("Authorization") == "Bearer t" else self.error_reply(401)

        def _put(self, request, groups):
            self.contacts[groups["id"]] = request.json()
            return json_reply(200, self.contacts[groups["id"]])

What the kit gives every fake:
- a server on 127.0.0.1 (port from the OS) in a thread, HTTP/1.1 keep-alive, any method; bodies
  go out in 64 KiB chunks (an application/jsonl body counts its bytes through `served`);
- routes: (method, path regex, kind) -> handler(request, groups) -> Reply, under `self.lock`;
- auth: `authorize(request, kind)` answers a refused request, before any route runs;
- a journal: `received`, `received_by_kind`, `writes` (POST/PUT/PATCH/DELETE), `journal` [(kind,
  status)], `in_flight` / `max_concurrent`;
- faults (`faults.add`, `faults.at_request`, `faults.rate`): the next N requests (of a kind), the
  k-th, or a seeded share of them get a status with the platform's own error body (`error_reply`),
  an HTML edge page, no body, or a connection dropped mid-answer; with Retry-After and latency
  (a handler can also hang up before answering: `Reply(hang_up=True)`);
- `failures` (a request no route takes, or a handler that crashed: a 500 to the client) make
  `close()` / `__exit__` fail the test; `snapshot()` returns the platform's state to compare.
"""

from __future__ import annotations

import collections
import json
import random
import re
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
Body = Literal["platform", "html", "empty", "drop"]


@dataclass
class Request:
    method: str
    target: str  # path with query string, as sent
    headers: Message
    body: bytes

    @property
    def path(self) -> str:
        return unquote(urlsplit(self.target).path)

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.target).query, keep_blank_values=True))

    def json(self) -> Any:
        return json.loads(self.body) if self.body.strip() else None


@dataclass
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    # Send the headers and half the body, then close the connection.
    drop: bool = False
    # Close the connection without any answer ("Remote end closed connection without response").
    hang_up: bool = False


def json_reply(status: int, data: Any, **headers: str) -> Reply:
    return Reply(status, json.dumps(data).encode(), headers=headers)


def html_page(status: int) -> bytes:
    phrase = f"{status} {HTTPStatus(status).phrase}"
    return f"<html><head><title>{phrase}</title></head><body><h1>{phrase}</h1></body></html>".encode()


@dataclass
class Fault:
    status: int
    body: Body = "platform"
    retry_after: float | None = None
    latency: float = 0.0
    kind: str | None = None  # only requests of this kind; None: any


class Faults:
    """What the next requests get instead of their answer. Thread-safe; `injected` counts uses."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: collections.deque[Fault] = collections.deque()
        self._at: dict[tuple[str | None, int], Fault] = {}
        self._rates: list[tuple[float, Fault, random.Random]] = []
        self.injected = 0

    def add(self, status: int, count: int = 1, *, body: Body = "platform", retry_after: float | None = None,
            latency: float = 0.0, kind: str | None = None) -> None:
        """The next `count` requests (of `kind`) get `status`."""
        with self._lock:
            self._queue.extend(Fault(status, body, retry_after, latency, kind) for _ in range(count))

    def at_request(self, number: int, status: int, *, kind: str | None = None, body: Body = "platform",
                   retry_after: float | None = None) -> None:
        """Request `number` (1-based, of `kind` or of all) gets `status`."""
        with self._lock:
            self._at[(kind, number)] = Fault(status, body, retry_after, 0.0, kind)

    def rate(self, share: float, status: int, *, seed: int = 0, kind: str | None = None, body: Body = "platform",
             retry_after: float | None = None) -> None:
        """A seeded `share` of the requests (of `kind`) get `status`, from now on."""
        with self._lock:
            self._rates.append((share, Fault(status, body, retry_after, 0.0, kind), random.Random(seed)))

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
            self._at.clear()
            self._rates.clear()

    def take(self, kind: str, number: int, number_of_kind: int) -> Fault | None:
        with self._lock:
            fault = self._at.pop((kind, number_of_kind), None) or self._at.pop((None, number), None)
            if fault is None:
                fault = next((f for f in self._queue if f.kind in (None, kind)), None)
                if fault is not None:
                    self._queue.remove(fault)
            if fault is None:
                fault = next((f for share, f, rng in self._rates if f.kind in (None, kind) and rng.random() < share),
                             None)
            self.injected += fault is not None
            return fault


Handler = Callable[[Request, dict[str, str]], Reply]


class FakePlatform:
    name = "fake"

    def __init__(self, *, latency: float = 0.0) -> None:
        self.lock = threading.RLock()
        self.latency = latency
        self.faults = Faults()
        self.routes: list[tuple[str, re.Pattern[str], str, Handler]] = []
        self.received = self.writes = self.in_flight = self.max_concurrent = 0
        self.received_by_kind: collections.Counter[str] = collections.Counter()
        self.journal: list[tuple[str, int]] = []
        self.failures: list[str] = []
        self._flight = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name=self.name, daemon=True)

    # -- what a fake gives -------------------------------------------------------------------------
    def route(self, method: str, pattern: str, kind: str, handler: Handler) -> None:
        self.routes.append((method, re.compile(f"^{pattern}$"), kind, handler))

    def resolve(self, request: Request) -> tuple[str, Handler | None, dict[str, str]]:
        """The request's kind (for counts and faults), its handler and path groups."""
        return self.match(request.method, request.path)

    def match(self, method: str, path: str) -> tuple[str, Handler | None, dict[str, str]]:
        for route_method, pattern, kind, handler in self.routes:
            found = pattern.match(path) if route_method == method else None
            if found:
                return kind, handler, found.groupdict()
        return f"{method} {path}", None, {}

    def authorize(self, request: Request, kind: str) -> Reply | None:
        """The answer to a request whose credentials are refused; None lets it through."""
        return None

    def error_reply(self, status: int, retry_after: float | None = None) -> Reply:
        """The platform's own error body for `status`."""
        headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
        return json_reply(status, {"error": HTTPStatus(status).phrase}, **headers)

    def unrouted(self, request: Request, kind: str) -> Reply:
        self.failed(f"unsupported request: {request.method} {request.target}")
        return self.error_reply(404)

    def snapshot(self) -> Any:
        """The platform's state, for a test to compare before and after."""
        return None

    def faulted(self, kind: str, fault: Fault) -> None:
        """A request of `kind` is answered with `fault` (for a fake's own journal)."""

    def served(self, n: int) -> None:
        """n bytes of an application/jsonl body reached the client (negative: did not after all)."""

    # -- the kit -----------------------------------------------------------------------------------
    def handle(self, request: Request) -> Reply:
        with self._flight:
            self.in_flight += 1
            self.max_concurrent = max(self.max_concurrent, self.in_flight)
        try:  # the count drops before the reply is written: a client cannot overlap its next request
            if self.latency:
                time.sleep(self.latency)
            kind, handler, groups = self.resolve(request)
            with self.lock:
                self.received += 1
                self.received_by_kind[kind] += 1
                self.writes += request.method in WRITE_METHODS
                fault = self.faults.take(kind, self.received, self.received_by_kind[kind])
                if fault is not None:
                    self.faulted(kind, fault)
            reply = self._fault_reply(fault) if fault is not None else self._answer(request, kind, handler, groups)
            with self.lock:
                self.journal.append((kind, reply.status))
            return reply
        finally:
            with self._flight:
                self.in_flight -= 1

    def _answer(self, request: Request, kind: str, handler: Handler | None, groups: dict[str, str]) -> Reply:
        refused = self.authorize(request, kind)
        if refused is not None:
            return refused
        if handler is None:
            return self.unrouted(request, kind)
        with self.lock:
            return handler(request, groups)

    def _fault_reply(self, fault: Fault) -> Reply:
        if fault.latency:
            time.sleep(fault.latency)
        headers = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
        if fault.body == "platform":
            return self.error_reply(fault.status, fault.retry_after)
        if fault.body == "empty":
            return Reply(fault.status, b"", "text/html; charset=UTF-8", headers)
        return Reply(fault.status, html_page(fault.status), "text/html", headers, drop=fault.body == "drop")

    def failed(self, what: str) -> None:
        with self.lock:
            self.failures.append(what)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> Any:
        self._thread.start()
        return self

    def close(self, *, check: bool = True) -> None:
        """Stops the server, then fails if the fake met a request it could not handle."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=30)
        self._server.server_close()
        if check and self.failures:
            raise AssertionError(f"{self.name} failed on a request:\n" + "\n".join(self.failures))

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.close(check=exc_type is None)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default backlog of 5 drops SYNs when a client opens 10+ connections at once


def _handler(platform: FakePlatform) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 30  # an idle keep-alive connection's thread ends after this
        disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

        def _serve(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            request = Request(self.command, self.path, self.headers, body)
            try:
                reply = platform.handle(request)
            except Exception:
                platform.failed(f"{self.command} {self.path}\n{traceback.format_exc()}")
                reply = Reply(500, f"{platform.name}: internal error (see fake.failures)".encode(), "text/plain")
            if reply.hang_up:
                self.close_connection = True
                return
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for key, value in reply.headers.items():
                self.send_header(key, value)
            self.end_headers()
            view, sent = memoryview(reply.body), 0
            end = len(view) // 2 if reply.drop else len(view)
            counted = reply.content_type == "application/jsonl"
            if counted:  # counted before sending: a client that has read the last byte must already see it
                platform.served(end)
            try:
                while self.command != "HEAD" and sent < end:  # in chunks, so a large JSONL file streams
                    sent += self.wfile.write(view[sent:min(end, sent + 65536)]) or 0
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
                if counted:
                    platform.served(sent - end)  # what never went out
            if reply.drop:
                self.close_connection = True

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
