"""HttpClient: retries, backoff, Retry-After, classification and redaction, against `responses`."""

from __future__ import annotations

import logging
import pickle
import random
import threading
from datetime import UTC, datetime

import pytest
import requests
import responses
from responses import matchers
from rfmsync.connectors.http_client import HttpClient, redact_url
from rfmsync.connectors.retry import RetryPolicy, parse_retry_after
from rfmsync.core.errors import AuthError, PermanentError, TransientError
from rfmsync.core.stopping import Interrupted

BASE = "https://api.example.test/v1"


class Sleeps:
    """Records the waits the client asks for instead of sleeping."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def client(sleeps: Sleeps, *, max_attempts: int = 5, base_delay: float = 1.0, max_delay: float = 60.0,
           max_retry_after: float = 300.0) -> HttpClient:
    policy = RetryPolicy(max_attempts=max_attempts, base_delay=base_delay, max_delay=max_delay,
                         max_retry_after=max_retry_after, sleep=sleeps, rng=random.Random(7))
    return HttpClient(BASE, headers={"Authorization": "Bearer TOKEN-123"}, timeout=(2.0, 7.0), retry=policy)


@responses.activate
def test_429_waits_exactly_what_retry_after_asks(sleeps: Sleeps) -> None:
    responses.get(f"{BASE}/lists", status=429, headers={"Retry-After": "3"})
    responses.get(f"{BASE}/lists", status=429, headers={"Retry-After": "1"})
    responses.get(f"{BASE}/lists", json={"ok": True})

    response = client(sleeps).request("GET", "/lists")

    assert response.json() == {"ok": True}
    assert sleeps.calls == [3.0, 1.0]
    assert len(responses.calls) == 3


@responses.activate
def test_retry_after_is_capped(sleeps: Sleeps) -> None:
    responses.get(f"{BASE}/lists", status=503, headers={"Retry-After": "7200"})
    responses.get(f"{BASE}/lists", json={})

    client(sleeps, max_retry_after=300.0).request("GET", "lists")

    assert sleeps.calls == [300.0]


def test_retry_after_http_date() -> None:
    now = datetime(2026, 11, 20, 4, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Fri, 20 Nov 2026 04:00:45 GMT", now) == 45.0
    assert parse_retry_after("Fri, 20 Nov 2026 03:59:00 GMT", now) == 0.0  # already past
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


@responses.activate
def test_502_and_503_then_success_with_jittered_backoff(sleeps: Sleeps) -> None:
    responses.post(f"{BASE}/batch", status=502)
    responses.post(f"{BASE}/batch", status=503)  # no Retry-After: plain backoff
    responses.post(f"{BASE}/batch", status=201, json={"id": 1})

    response = client(sleeps, base_delay=1.0, max_delay=60.0).request("POST", "/batch", json={"a": 1})

    assert response.status_code == 201
    assert len(responses.calls) == 3
    # Full jitter: attempt n waits uniform(0, base * 2**(n-1)); the seeded rng fixes the values.
    expected = random.Random(7)
    assert sleeps.calls == [expected.uniform(0, 1.0), expected.uniform(0, 2.0)]
    assert 0 <= sleeps.calls[0] <= 1.0 and 0 <= sleeps.calls[1] <= 2.0
    # The body is sent again unchanged on each attempt.
    assert {call.request.body for call in responses.calls} == {b'{"a": 1}'}


@responses.activate
def test_backoff_never_exceeds_max_delay(sleeps: Sleeps) -> None:
    for _ in range(6):
        responses.get(f"{BASE}/x", status=500)
    responses.get(f"{BASE}/x", json={})

    client(sleeps, max_attempts=7, base_delay=10.0, max_delay=15.0).request("GET", "/x")

    assert len(sleeps.calls) == 6
    assert all(0 <= s <= 15.0 for s in sleeps.calls)


@responses.activate
def test_connection_error_then_success(sleeps: Sleeps) -> None:
    responses.get(f"{BASE}/ping", body=requests.ConnectionError("connection refused"))
    responses.get(f"{BASE}/ping", body=requests.ReadTimeout("read timed out"))
    responses.get(f"{BASE}/ping", json={"pong": True})

    assert client(sleeps).request("GET", "/ping").json() == {"pong": True}
    assert len(responses.calls) == 3
    assert len(sleeps.calls) == 2


@responses.activate
def test_exhausted_retries_raise_transient(sleeps: Sleeps) -> None:
    responses.get(f"{BASE}/lists", status=503)

    with pytest.raises(TransientError, match=r"GET https://api.example.test/v1/lists: HTTP 503 Service "
                                             r"Unavailable after 5 attempts"):
        client(sleeps).request("GET", "/lists")

    assert len(responses.calls) == 5
    assert len(sleeps.calls) == 4


@responses.activate
def test_exhausted_connection_errors_raise_transient(sleeps: Sleeps) -> None:
    responses.get(f"{BASE}/lists", body=requests.ConnectionError("Max retries exceeded with url: /lists?k=SECRET"))

    with pytest.raises(TransientError) as info:
        client(sleeps, max_attempts=3).request("GET", "/lists")

    assert str(info.value) == "GET https://api.example.test/v1/lists: ConnectionError after 3 attempts"
    assert info.value.__cause__ is None and info.value.__suppress_context__  # the URL-bearing cause is dropped
    assert len(responses.calls) == 3


@responses.activate
def test_401_is_auth_error_without_retry(sleeps: Sleeps) -> None:
    responses.get(f"{BASE}/me", status=401, json={"title": "API Key Invalid"})

    with pytest.raises(AuthError, match=r"GET https://api.example.test/v1/me: HTTP 401 Unauthorized "
                                        r"\(code API Key Invalid\)"):
        client(sleeps).request("GET", "/me")

    assert len(responses.calls) == 1
    assert sleeps.calls == []


@responses.activate
def test_403_is_auth_error(sleeps: Sleeps) -> None:
    responses.get(f"{BASE}/me", status=403)

    with pytest.raises(AuthError):
        client(sleeps).request("GET", "/me")
    assert len(responses.calls) == 1


@responses.activate
def test_404_is_permanent_without_retry(sleeps: Sleeps) -> None:
    responses.get(f"{BASE}/missing", status=404, json={"code": "rest_no_route", "message": "No route"})

    with pytest.raises(PermanentError) as info:
        client(sleeps).request("GET", "/missing")

    assert str(info.value) == "GET https://api.example.test/v1/missing: HTTP 404 Not Found (code rest_no_route)"
    assert (info.value.origin, info.value.status, info.value.code, info.value.retry_after) == \
        ("api.example.test", 404, "rest_no_route", None)
    assert len(responses.calls) == 1


@responses.activate
def test_errors_carry_status_code_and_retry_after_and_survive_pickling(sleeps: Sleeps) -> None:
    responses.get(f"{BASE}/lists", status=429, headers={"Retry-After": "42"}, json={"code": "rate_limited"})
    policy = RetryPolicy(max_attempts=2, sleep=sleeps, rng=random.Random(7))
    with pytest.raises(TransientError) as info:
        HttpClient(BASE, retry=policy, origin="crm").request("GET", "/lists")
    error = info.value
    assert (error.origin, error.status, error.code, error.retry_after) == ("crm", 429, "rate_limited", 42.0)
    assert sleeps.calls == [42.0]
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), str(copy), copy.status, copy.retry_after) == (TransientError, str(error), 429, 42.0)


@responses.activate
def test_a_stop_request_ends_the_retries_with_interrupted(sleeps: Sleeps) -> None:
    stop = threading.Event()

    def answer(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        stop.set()  # Ctrl-C arrives while the request is in flight
        return 503, {}, ""

    responses.add_callback(responses.GET, f"{BASE}/lists", callback=answer)
    policy = RetryPolicy(max_attempts=5, sleep=sleeps, stop=stop, rng=random.Random(7))
    with pytest.raises(Interrupted):
        HttpClient(BASE, retry=policy).request("GET", "/lists")
    assert (len(responses.calls), sleeps.calls) == (1, [])  # neither a wait nor a second attempt


@responses.activate
def test_timeout_and_headers_on_every_call(sleeps: Sleeps) -> None:
    responses.get(f"{BASE}/a", status=500)
    responses.get(f"{BASE}/a", json={})
    responses.get(f"{BASE}/b", json={})

    http = client(sleeps)
    http.request("GET", "/a")
    http.request("GET", "https://api.example.test/v1/b", params={"page": "2"})

    assert len(responses.calls) == 3
    assert [call.request.req_kwargs["timeout"]  # type: ignore[attr-defined]
            for call in responses.calls] == [(2.0, 7.0)] * 3
    assert all(call.request.headers["Authorization"] == "Bearer TOKEN-123" for call in responses.calls)
    assert responses.calls[2].request.url == "https://api.example.test/v1/b?page=2"


@responses.activate
def test_header_callable_is_called_per_attempt(sleeps: Sleeps) -> None:
    responses.post(f"{BASE}/hook", status=500)
    responses.post(f"{BASE}/hook", status=200)
    counter = iter(range(100))

    client(sleeps).request("POST", "/hook", data=b"x", headers=lambda: {"X-Attempt": str(next(counter))})

    assert [call.request.headers["X-Attempt"] for call in responses.calls] == ["0", "1"]


@responses.activate
def test_messages_and_logs_hold_no_query_string_email_or_token(sleeps: Sleeps,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    url = "https://api.example.test/v1/members?apikey=SECRET"
    # The server echoes the refused address in every free-text field, and once in a "title".
    echo = {"title": "jane.doe@example.com", "detail": "jane.doe@example.com is invalid",
            "message": "jane.doe@example.com"}
    responses.post("https://api.example.test/v1/members", status=429, json=echo,
                   match=[matchers.query_param_matcher({"apikey": "SECRET"})])
    responses.post("https://api.example.test/v1/members", status=400, json=echo,
                   match=[matchers.query_param_matcher({"apikey": "SECRET"})])
    caplog.set_level(logging.WARNING, logger="rfmsync.http")

    with pytest.raises(PermanentError) as info:
        client(sleeps).request("POST", url, json={"email_address": "jane.doe@example.com", "phone": "+4915112345678"})

    message = str(info.value)
    assert message == "POST https://api.example.test/v1/members: HTTP 400 Bad Request"
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert "POST https://api.example.test/v1/members: HTTP 429 Too Many Requests; attempt 1 of 5" in logged
    for secret in ("SECRET", "apikey", "jane.doe", "example.com is", "4915112345678", "TOKEN-123"):
        assert secret not in message
        assert secret not in logged


@responses.activate
def test_error_code_is_short_and_safe(sleeps: Sleeps) -> None:
    responses.get(f"{BASE}/long", status=422, json={"errors": [{"code": "x" * 200}]})
    responses.get(f"{BASE}/phone", status=422, json={"code": "bad phone 4915112345678"})
    responses.get(f"{BASE}/meta", status=400, json={"error": {"message": "a@b.c", "type": "OAuthException",
                                                               "code": 190}})

    http = client(sleeps)
    for path, expected in [("/long", "HTTP 422 Unprocessable Entity"), ("/phone", "HTTP 422 Unprocessable Entity"),
                           ("/meta", "HTTP 400 Bad Request (code 190)")]:
        with pytest.raises(PermanentError) as info:
            http.request("GET", path)
        assert str(info.value) == f"GET https://api.example.test/v1{path}: {expected}"


def test_redact_url() -> None:
    assert redact_url("https://u:p@API.example.test:8443/a/b?apikey=1#frag") == "https://api.example.test:8443/a/b"
    assert redact_url("https://hooks.zapier.com/hooks/catch/1/abc/", keep_path=False) == "https://hooks.zapier.com/..."
    assert redact_url("http://[::1]:8080/x?y") == "http://[::1]:8080/x"
    assert redact_url("http://host:notaport/x") == "<invalid url>"


def test_repr_hides_headers() -> None:
    http = HttpClient(f"{BASE}?key=SECRET", headers={"Authorization": "Bearer TOKEN-123"})
    assert repr(http) == "HttpClient('https://api.example.test/v1')"


@responses.activate
def test_url_joining(sleeps: Sleeps) -> None:
    responses.get("https://api.example.test/v1/lists/abc", json={})
    responses.post("https://hooks.example.test/catch/1/", json={})

    client(sleeps).request("GET", "lists/abc")
    HttpClient("https://hooks.example.test/catch/1/", retry=RetryPolicy(sleep=sleeps)).request("POST", "")

    assert [c.request.url for c in responses.calls] == ["https://api.example.test/v1/lists/abc",
                                                        "https://hooks.example.test/catch/1/"]


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(base_delay=-1)
