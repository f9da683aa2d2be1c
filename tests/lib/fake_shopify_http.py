"""The loopback transport of fake_shopify: a ThreadingHTTPServer on 127.0.0.1:0 in a thread, handing
each POST and GET to the fake and writing its Reply (with Content-Length, in 64 KiB chunks)."""

from __future__ import annotations

import json
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def json_reply(status: int, data: Any, **headers: str) -> Reply:
    return Reply(status, json.dumps(data).encode(), headers=headers)


class App(Protocol):
    def post(self, path: str, token: str | None, content_type: str, body: bytes) -> Reply: ...

    def get(self, path: str) -> Reply: ...

    def failed(self, what: str) -> None:
        """The app raised: `what` holds the request and the traceback (the client got a 500)."""

    def served(self, n: int) -> None:
        """n bytes of an application/jsonl body reached the client."""


class LoopbackServer:
    """A server on 127.0.0.1 (port chosen by the OS) in a daemon thread, shared by the fakes: each
    gives it its request handler and, if it needs one, its server class."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], *,
                 server_class: type[ThreadingHTTPServer] = ThreadingHTTPServer, name: str = "fake") -> None:
        self.server = server_class(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02},
                                       name=name, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        if self.thread.is_alive():
            self.server.shutdown()
            self.thread.join(timeout=30)
        self.server.server_close()


def handler_for(app: App) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self._answer(lambda: app.post(self.path, self.headers.get("X-Shopify-Access-Token"),
                                          self.headers.get("Content-Type", ""), body))

        def do_GET(self) -> None:
            self._answer(lambda: app.get(self.path))

        def _answer(self, make: Callable[[], Reply]) -> None:
            try:
                reply = make()
            except Exception:
                app.failed(f"{self.command} {self.path}\n{traceback.format_exc()}")
                reply = Reply(500, b"fake_shopify: internal error (see fake.failures)", "text/plain")
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for key, value in reply.headers.items():
                self.send_header(key, value)
            self.end_headers()
            view, sent = memoryview(reply.body), 0
            counted = reply.content_type == "application/jsonl"
            if counted:
                # Counted before sending: a client that has read the last byte must already see it.
                app.served(len(view))
            try:
                while sent < len(view):  # in chunks, so a large JSONL file streams
                    sent += self.wfile.write(view[sent:sent + 65536]) or 0
            except (BrokenPipeError, ConnectionResetError):
                if counted:
                    app.served(sent - len(view))  # what never went out

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
