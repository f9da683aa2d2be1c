"""Webhook sink against a real loopback receiver that checks signatures and fails once, plus the
wire format, the signature helper and config validation."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import responses
from pydantic import ValidationError
from rfmsync.connectors.base import Sink
from rfmsync.connectors.retry import RetryPolicy
from rfmsync.connectors.webhook.sink import (
    BATCH_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookSink,
    WebhookSinkConfig,
    encode_body,
    sign,
    verify_signature,
)
from rfmsync.core.diff import Change, ChangeKind
from rfmsync.core.errors import AuthError, PermanentError, TransientError

SECRET = "whsec-test-0123456789"


@dataclass
class Post:
    headers: dict[str, str]
    body: bytes
    status: int


@dataclass
class Receiver:
    """What the loopback server saw. It answers 401 to a bad signature, 500 to the first correctly
    signed POST and 200 to every later one, recording the bodies it accepted."""

    url: str = ""
    posts: list[Post] = field(default_factory=list)
    accepted: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            valid = verify_signature(SECRET, self.headers.get(TIMESTAMP_HEADER, ""), body,
                                     self.headers.get(SIGNATURE_HEADER, ""))
            with state.lock:
                signed_before = sum(1 for p in state.posts if p.status != 401)
                status = 401 if not valid else 500 if signed_before == 0 else 200
                state.posts.append(Post(dict(self.headers), body, status))
                if status == 200:
                    state.accepted.append(json.loads(body))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # The path stands in for the secret token in a Zapier or n8n URL.
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/catch/123/s3cr3tpath/"
    # A short poll interval keeps shutdown() at teardown fast (the default waits up to 0.5 s).
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def config(url: str, secret: str = SECRET, **extra: Any) -> WebhookSinkConfig:
    return WebhookSinkConfig.model_validate({"type": "webhook", "url": url, "secret": secret, **extra})


def changes() -> list[Change]:
    return [
        Change("c01", ChangeKind.ENTERED, None, "Champions", {"segment": "Champions", "rfm_cell": "555"},
               "zoë@example.com", None),
        Change("c02", ChangeKind.MOVED, "Loyal", "At Risk", {"segment": "At Risk", "rfm_cell": "244"},
               "bob@example.com", "+4930123456"),
        Change("c03", ChangeKind.LEFT, "Hibernating", None, {}, None, "+4930999999"),
        Change("c04", ChangeKind.UPDATED, "Loyal", "Loyal", {"segment": "Loyal", "rfm_cell": "434"}),
        Change("c05", ChangeKind.ENTERED, None, "New", {"segment": "New", "rfm_cell": "511"}, "e@example.com"),
        Change("c06", ChangeKind.MOVED, "New", "Promising", {"segment": "Promising", "rfm_cell": "421"}),
        Change("c07", ChangeKind.LEFT, "Lost", None, {}),
    ]


def test_three_batches_arrive_once_each_in_order_despite_a_500(receiver: Receiver) -> None:
    sleeps = Sleeps()
    sink = WebhookSink(config(receiver.url, name="n8n", batch_size=3), retry=RetryPolicy(sleep=sleeps))
    all_changes = changes()
    batches = [all_changes[i:i + sink.batch_size] for i in range(0, len(all_changes), sink.batch_size)]
    assert [len(b) for b in batches] == [3, 3, 1]

    results = [sink.push(f"acme:n8n:{n}", batch) for n, batch in enumerate(batches, start=1)]
    sink.close()

    assert [list(r.accepted) for r in results] == [["c01", "c02", "c03"], ["c04", "c05", "c06"], ["c07"]]
    assert all(not r.rejected for r in results)
    # Batch 1 was answered 500, retried once after one backoff, then accepted; 2 and 3 went through.
    assert [p.status for p in receiver.posts] == [500, 200, 200, 200]
    assert len(sleeps.calls) == 1
    assert [p.headers[BATCH_ID_HEADER] for p in receiver.posts] == ["acme:n8n:1", "acme:n8n:1", "acme:n8n:2",
                                                                   "acme:n8n:3"]
    assert receiver.posts[0].body == receiver.posts[1].body  # the retry resends the same batch
    assert all(p.headers["Content-Type"] == "application/json" for p in receiver.posts)
    # Every change exactly once, in order, each inside the batch its header names.
    keys = [c["customer_key"] for body in receiver.accepted for c in body["changes"]]
    assert keys == ["c01", "c02", "c03", "c04", "c05", "c06", "c07"]
    assert [b["batch_id"] for b in receiver.accepted] == ["acme:n8n:1", "acme:n8n:2", "acme:n8n:3"]
    assert receiver.accepted[0]["changes"][0] == {
        "customer_key": "c01", "kind": "entered", "old_segment": None, "new_segment": "Champions",
        "fields": {"segment": "Champions", "rfm_cell": "555"}, "email": "zoë@example.com", "phone": None}
    assert receiver.accepted[0]["changes"][2] == {
        "customer_key": "c03", "kind": "left", "old_segment": "Hibernating", "new_segment": None,
        "fields": {}, "email": None, "phone": "+4930999999"}
    # The signature binds this secret: another secret does not verify the same request.
    last = receiver.posts[-1]
    args = (last.headers[TIMESTAMP_HEADER], last.body, last.headers[SIGNATURE_HEADER])
    assert verify_signature(SECRET, *args)
    assert not verify_signature("not-the-secret", *args)


def test_wrong_secret_is_refused_by_the_receiver(receiver: Receiver) -> None:
    sink = WebhookSink(config(receiver.url, secret="wrong-secret"), retry=RetryPolicy(sleep=Sleeps()))

    with pytest.raises(AuthError) as info:
        sink.push("b1", changes()[:2])

    assert [p.status for p in receiver.posts] == [401]  # refused, and not retried
    assert receiver.accepted == []
    # The webhook URL's path is its credential: errors name the host only.
    assert "s3cr3tpath" not in str(info.value)
    assert str(info.value).startswith("POST http://127.0.0.1:")


def test_body_is_compact_sorted_utf8() -> None:
    body = encode_body("b7", changes()[:1], sent_at=1_763_611_203.5125)
    assert body == ('{"batch_id":"b7","changes":[{"customer_key":"c01","email":"zoë@example.com",'
                    '"fields":{"rfm_cell":"555","segment":"Champions"},"kind":"entered","new_segment":"Champions",'
                    '"old_segment":null,"phone":null}],"sent_at":"2025-11-20T04:00:03.512Z"}').encode()


def test_verify_signature() -> None:
    body = b'{"batch_id":"b1"}'
    header = sign(SECRET, 1_000_000, body)
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert verify_signature(SECRET, "1000000", body, header, now=1_000_100)
    assert verify_signature(SECRET.encode(), 1_000_000, body, header.upper().replace("SHA256", "sha256"),
                            now=1_000_000)
    assert not verify_signature(SECRET, "1000000", body + b" ", header, now=1_000_000)  # tampered body
    assert not verify_signature(SECRET, "1000001", body, header, now=1_000_000)  # other timestamp
    assert not verify_signature(SECRET, "1000000", body, header, now=1_000_301)  # too old: a replay
    assert verify_signature(SECRET, "1000000", body, header, tolerance_s=None, now=9_999_999)
    assert not verify_signature(SECRET, "yesterday", body, header)
    assert not verify_signature(SECRET, "1000000", body, "", now=1_000_000)


@responses.activate
def test_each_attempt_is_signed_afresh() -> None:
    url = "https://hooks.example.test/rfm"
    responses.post(url, status=503, headers={"Retry-After": "120"})
    responses.post(url, status=204)
    times = iter([1000.0, 1000.0, 1120.0])  # body time, first attempt, attempt after Retry-After
    sleeps = Sleeps()
    sink = WebhookSink(config(url), retry=RetryPolicy(sleep=sleeps), clock=lambda: next(times))

    assert list(sink.push("b1", changes()[:1]).accepted) == ["c01"]

    assert sleeps.calls == [120.0]
    stamps = [c.request.headers[TIMESTAMP_HEADER] for c in responses.calls]
    assert stamps == ["1000", "1120"]
    for call, now in zip(responses.calls, (1000, 1120), strict=True):
        body = call.request.body
        assert isinstance(body, bytes)
        assert verify_signature(SECRET, call.request.headers[TIMESTAMP_HEADER], body,
                                call.request.headers[SIGNATURE_HEADER], tolerance_s=0, now=now)


@responses.activate
def test_refused_batch_is_permanent_and_not_retried() -> None:
    url = "https://hooks.example.test/catch/9/token/"
    responses.post(url, status=422, json={"error": "bad payload for zoë@example.com"})
    sink = WebhookSink(config(url), retry=RetryPolicy(sleep=Sleeps()))

    with pytest.raises(PermanentError) as info:
        sink.push("b1", changes()[:1])

    assert str(info.value) == "POST https://hooks.example.test/...: HTTP 422 Unprocessable Entity"
    assert len(responses.calls) == 1


@responses.activate
def test_persistent_5xx_is_transient_and_redirects_are_refused() -> None:
    url = "https://hooks.example.test/rfm"
    responses.post(url, status=502)
    sink = WebhookSink(config(url), retry=RetryPolicy(max_attempts=3, sleep=Sleeps()))
    with pytest.raises(TransientError, match="HTTP 502 Bad Gateway after 3 attempts"):
        sink.push("b1", changes()[:1])
    assert len(responses.calls) == 3

    responses.replace(responses.POST, url, status=302, headers={"Location": "https://elsewhere.example.test/"})
    with pytest.raises(PermanentError, match="redirects are not followed"):
        sink.push("b2", changes()[:1])
    assert len(responses.calls) == 4  # the redirect was not followed


@responses.activate
def test_empty_batch_sends_nothing_and_config_headers_are_sent() -> None:
    url = "https://hooks.example.test/rfm"
    responses.post(url, status=200)
    sink = WebhookSink(config(url, headers={"X-N8n-Auth": "header-token"}), retry=RetryPolicy(sleep=Sleeps()))

    assert list(sink.push("b0", []).accepted) == []
    assert len(responses.calls) == 0
    sink.push("b1", changes()[:1])
    assert responses.calls[0].request.headers["X-N8n-Auth"] == "header-token"
    # responses records the keyword arguments requests was called with.
    assert responses.calls[0].request.req_kwargs["timeout"] == (5.0, 30.0)  # type: ignore[attr-defined]


def test_config_defaults_and_name() -> None:
    cfg = config("https://hooks.example.test/x")
    assert (cfg.batch_size, cfg.timeout_seconds, cfg.fields, cfg.headers) == (500, 30.0, ["segment", "rfm_cell"], {})
    sink: Sink = WebhookSink(cfg)  # mypy checks WebhookSink against the protocol here
    assert (sink.name, sink.batch_size) == ("webhook", 500)
    assert WebhookSink(cfg).fields == ["segment", "rfm_cell"]
    assert WebhookSink(config("https://h.example.test/", name="zapier")).name == "zapier"


@pytest.mark.parametrize("url", ["ftp://hooks.example.test/x", "hooks.example.test/x", "https://", "not a url",
                                 "http://host:port/x"])
def test_config_rejects_bad_url(url: str) -> None:
    with pytest.raises(ValidationError) as info:
        config(url)
    (error,) = info.value.errors()
    assert error["loc"] == ("url",)
    assert "expected an http:// or https:// URL with a host" in error["msg"]


@pytest.mark.parametrize(("extra", "loc", "message"), [
    ({"fields": ["rfm_cell", "segment"]}, ("fields",), "the first pushed field must be 'segment'"),
    ({"fields": []}, ("fields",), "the first pushed field must be 'segment'"),
    ({"fields": ["segment", "shoe_size"]}, ("fields",), "unknown field 'shoe_size'"),
    ({"fields": ["segment", "rfm_cell", "rfm_cell"]}, ("fields",), "must not repeat"),
    ({"list_id": "abc"}, ("list_id",), "Extra inputs are not permitted"),
    ({"batch_size": 0}, ("batch_size",), "greater than or equal to 1"),
    ({"batch_size": 10_001}, ("batch_size",), "less than or equal to 10000"),
    ({"headers": {"X-Rfmsync-Signature": "x"}}, ("headers",), "is set by rfmsync"),
    ({"headers": {"X-Evil": "a\r\nb"}}, ("headers",), "line break"),
    ({"type": "mailchimp"}, ("type",), "Input should be 'webhook'"),
    ({"secret": ""}, ("secret",), "at least 1"),
])
def test_config_rejects(extra: dict[str, Any], loc: tuple[str, ...], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        config("https://hooks.example.test/x", **extra)
    (error,) = info.value.errors()
    assert error["loc"] == loc
    assert message in error["msg"]


def test_config_and_sink_do_not_reveal_secrets() -> None:
    cfg = config("https://hooks.example.test/catch/1/pathtoken/", headers={"Authorization": "Bearer hdr-token"})
    for text in (repr(cfg), str(cfg), repr(WebhookSink(cfg))):
        assert SECRET not in text
        assert "hdr-token" not in text
    assert "pathtoken" not in repr(WebhookSink(cfg))
    assert cfg.secret.get_secret_value() == SECRET
