"""The loopback transport of fake_mailchimp: its request handler, which hands every request (any
method) to the app and writes its Reply with a Content-Length, run by fake_shopify_http's
LoopbackServer. HTTP/1.1 keep-alive is on, so a client's connection pool is honoured (Mailchimp
limits simultaneous connections, platforms.md §4.7)."""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from fake_shopify_http import LoopbackServer, Reply

__all__ = ["App", "LoopbackServer", "Reply", "Request"]


@dataclass
class Request:
    method: str
    target: str  # path with query string, as sent
    headers: Message
    body: bytes


class App(Protocol):
    def handle(self, request: Request) -> Reply: ...

    def failed(self, what: str) -> None:
        """The app raised: `what` holds the request and the traceback (the client got a 500)."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default backlog of 5 drops SYNs when a client opens 10+ connections at once


def loopback_server(app: App) -> LoopbackServer:
    return LoopbackServer(_handler(app), server_class=_Server, name="fake-mailchimp")


def _handler(app: App) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 30  # an idle keep-alive connection's thread ends after this
        disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

        def _serve(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            request = Request(self.command, self.path, self.headers, body)
            try:
                reply = app.handle(request)
            except Exception:
                app.failed(f"{self.command} {self.path}\n{traceback.format_exc()}")
                reply = Reply(500, b"fake_mailchimp: internal error (see fake.failures)", "text/plain")
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for key, value in reply.headers.items():
                self.send_header(key, value)
            self.end_headers()
            try:
                if reply.body and self.command != "HEAD":
                    self.wfile.write(reply.body)
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
