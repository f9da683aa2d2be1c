"""The HTTP client every HTTP connector uses: one `requests.Session`, a timeout on every call,
tenacity retries, and errors from the one exception tree whose messages are safe to log.

- Retried: 408, 429, 500-599, connection errors and timeouts, with exponential backoff and full
  jitter; a `Retry-After` on 429 or 503 (seconds or an HTTP date) replaces the backoff, capped at
  `RetryPolicy.max_retry_after`.
- Raised once retries are spent or for a status not worth retrying: 401/403 -> AuthError,
  408/429/5xx/connection -> TransientError, any other 4xx -> PermanentError. Redirects are followed
  (requests' default) unless the caller says otherwise; the final status is what counts.
- Messages and logs hold the method, the URL's scheme, host and path (never the query string,
  which may carry an API key, nor user:password), the status and its standard reason phrase, and
  at most a short error code or title from a JSON error body. Never a request body, a header, the
  server's free-text error detail (it often quotes the email it refused) or `str()` of a requests
  exception (it embeds the full URL).

Retrying a POST is only safe because every sink push is an idempotent upsert (connectors/base.py):
a request whose answer was lost may have been applied once already.

A `requests.Session` is not documented as thread-safe: use one client per thread.
"""

from __future__ import annotations

import email.utils
import logging
import random
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, NoReturn
from urllib.parse import urlsplit

import requests
from rfmsync import __version__
from rfmsync.core.errors import AuthError, PermanentError, TransientError
from rfmsync.core.stopping import pause
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

log = logging.getLogger("rfmsync.http")

# 408 Request Timeout and 429 Too Many Requests are the two 4xx that say "try again"
# (RFC 9110 §15.5.9, RFC 6585 §4); every 5xx is the server's fault and may pass.
RETRY_STATUSES = frozenset({408, 429, *range(500, 600)})
# RFC 9110 §10.2.3 defines Retry-After for 503 (and 3xx); RFC 6585 §4 adds it to 429.
RETRY_AFTER_STATUSES = frozenset({429, 503})
AUTH_STATUSES = frozenset({401, 403})

# Error bodies are parsed for a short code only when small: a multi-megabyte HTML error page is
# not worth decoding, and the code is never more than a few words.
_MAX_ERROR_BODY = 64 * 1024
_MAX_CODE_LEN = 60
# A code or title is shown only when it looks like one: starts with a letter, no '@', no long
# digit runs (phone numbers, account ids), only word characters, spaces, dots and dashes.
_SAFE_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_ .\-]*")
_DIGIT_RUN = re.compile(r"\d{6,}")
_DELAY_SECONDS = re.compile(r"\d+(\.\d+)?", re.ASCII)


def _default_user_agent() -> str:
    return f"rfmsync/{__version__} python-requests/{requests.__version__}"


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try before raising. Delays are seconds.

    Attempt n (1-based) that failed waits uniform(0, min(max_delay, base_delay * 2**(n-1))):
    "full jitter" from https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/,
    which spreads many clients' retries instead of synchronising them. With the defaults the four
    waits before attempts 2-5 are at most 1, 2, 4 and 8 s.
    """

    max_attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 60.0
    # A server asking for longer than this is still retried, after this long: an hour-long
    # Retry-After must not block a scheduled run for an hour.
    max_retry_after: float = 300.0
    sleep: Callable[[float], None] = pause
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_retry_after < 0:
            raise ValueError("delays must not be negative")

    def backoff(self, attempt: int) -> float:
        return self.rng.uniform(0.0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


def redact_url(url: str, *, keep_path: bool = True) -> str:
    """scheme://host[:port]/path of `url`: no user:password, query string or fragment.

    keep_path=False also hides the path, for URLs whose path is itself the secret (the webhook
    URLs Zapier, Make, n8n and Slack hand out).
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:  # an unparsable port or IPv6 literal: show nothing rather than the raw URL
        return "<invalid url>"
    if ":" in host:
        host = f"[{host}]"
    if port is not None:
        host = f"{host}:{port}"
    path = parts.path if keep_path else ("/..." if parts.path not in ("", "/") else parts.path)
    return f"{parts.scheme}://{host}{path}"


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delay-seconds or an HTTP-date (RFC 9110 §10.2.3).

    None when absent or unreadable; a date in the past gives 0. Fractional seconds are not in the
    RFC but some servers send them, and they are unambiguous.
    """
    if value is None:
        return None
    value = value.strip()
    if _DELAY_SECONDS.fullmatch(value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" parses naive; an HTTP-date is always GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def error_code(response: requests.Response) -> str | None:
    """A short, safe error code or title from a JSON error body, or None.

    Reads the shapes of the platforms in shared/platforms.md: RFC 7807 `title` (Mailchimp),
    `code` (WooCommerce), `error.code`/`error.type` (Meta), `errors[0].code`/`title` (Square,
    Klaviyo). Free text (`detail`, `message`) is never read: it echoes the refused data.
    """
    if len(response.content) > _MAX_ERROR_BODY or "json" not in response.headers.get("Content-Type", ""):
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    candidates: list[Any] = []
    if isinstance(body, dict):
        candidates += [body.get("code"), body.get("error_code"), body.get("title")]
        inner = body.get("error")
        if isinstance(inner, dict):
            candidates += [inner.get("code"), inner.get("type")]
        else:
            candidates.append(inner)
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            candidates += [errors[0].get("code"), errors[0].get("title")]
    for value in candidates:
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1_000_000:
            return str(value)  # Meta's 190 (bad token), 80003; a longer number may be data
        if (isinstance(value, str) and len(value) <= _MAX_CODE_LEN and _SAFE_CODE.fullmatch(value)
                and not _DIGIT_RUN.search(value)):
            return value
    return None


def describe_status(response: requests.Response) -> str:
    """'HTTP 404 Not Found (code rest_no_route)'. The standard phrase, never the server's own."""
    status = response.status_code
    try:
        text = f"HTTP {status} {HTTPStatus(status).phrase}"
    except ValueError:
        text = f"HTTP {status}"
    code = error_code(response)
    return f"{text} (code {code})" if code else text


class _RetryableStatus(Exception):
    """Internal: carries a retryable response through tenacity, which retries on exceptions."""

    def __init__(self, response: requests.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


# Connection-level failures worth another attempt. SSLError is a ConnectionError in requests but a
# certificate problem does not pass by itself, so it is excluded below. ChunkedEncodingError is a
# connection dropped mid-body.
_RETRY_EXCEPTIONS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


def _worth_retrying(exc: BaseException) -> bool:
    return isinstance(exc, _RetryableStatus) or (isinstance(exc, _RETRY_EXCEPTIONS)
                                                 and not isinstance(exc, requests.exceptions.SSLError))


HeadersArg = Mapping[str, str] | Callable[[], Mapping[str, str]] | None


class HttpClient:
    """One session to one platform. `headers` are sent on every request and may hold secrets; they
    are never logged, and `repr()` shows only the redacted base URL.

    `show_path=False` hides the URL path in errors and logs (webhook URLs whose path is the secret).
    `session` lets callers share a connection pool or pass a prepared one; its headers are updated.
    """

    def __init__(self, base_url: str, *, headers: Mapping[str, str] | None = None,
                 timeout: tuple[float, float] = (5.0, 30.0), retry: RetryPolicy | None = None,
                 show_path: bool = True, session: requests.Session | None = None) -> None:
        # (connect, read): connecting should be quick everywhere; reads wait on the platform's own
        # work (Mailchimp cuts requests off at 120 s, platforms.md §4.7), so callers raise it.
        self.base_url = base_url
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.show_path = show_path
        self._session = session or requests.Session()
        self._session.headers["User-Agent"] = _default_user_agent()
        self._session.headers.update(headers or {})

    def __repr__(self) -> str:
        return f"HttpClient({self._safe_url(self.base_url)!r})"

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._session.close()

    def url_for(self, path_or_url: str) -> str:
        """An absolute URL as is; a path joined to base_url; "" is base_url exactly (a webhook URL's
        trailing slash can matter)."""
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        if not path_or_url:
            return self.base_url
        return f"{self.base_url.rstrip('/')}/{path_or_url.lstrip('/')}"

    def request(self, method: str, path_or_url: str, *, json: Any = None,
                data: bytes | str | Mapping[str, str] | None = None, headers: HeadersArg = None,
                params: Mapping[str, str] | None = None, allow_redirects: bool = True,
                returned_statuses: Collection[int] = (), stream: bool = False) -> requests.Response:
        """Sends with retries and returns the final response, whose status is below 400 or in
        `returned_statuses` (which the caller handles itself: Shopify's 429 carries the throttle
        state in its body, a 401 may call for a token refresh).

        `headers` may be a callable, called before every attempt: signatures that cover a
        timestamp stay fresh across long Retry-After waits. `stream` leaves the body unread, for
        downloads read line by line.
        """
        method = method.upper()
        url = self.url_for(path_or_url)
        policy = self.retry

        def attempt() -> requests.Response:
            extra = headers() if callable(headers) else headers
            response = self._session.request(method, url, json=json, data=data, headers=extra, params=params,
                                             timeout=self.timeout, allow_redirects=allow_redirects, stream=stream)
            if response.status_code in returned_statuses:
                return response
            if response.status_code in RETRY_STATUSES:
                raise _RetryableStatus(response)
            return response

        retrying = Retrying(
            stop=stop_after_attempt(policy.max_attempts),
            wait=self._wait,
            retry=retry_if_exception(_worth_retrying),
            sleep=policy.sleep,
            before_sleep=lambda state: self._log_retry(method, url, state),
            reraise=True,
        )
        try:
            response = retrying(attempt)
        except _RetryableStatus as exc:
            self._raise_for(method, url, exc.response, attempts=policy.max_attempts)
        except requests.exceptions.SSLError:
            # `from None` throughout: a requests exception's text and traceback hold the full URL.
            raise PermanentError(f"{method} {self._safe_url(url)}: TLS failed (certificate or protocol); "
                                 "not retried") from None
        except _RETRY_EXCEPTIONS as exc:
            raise TransientError(f"{method} {self._safe_url(url)}: {type(exc).__name__} after "
                                 f"{policy.max_attempts} attempts") from None
        except requests.RequestException as exc:  # InvalidURL, InvalidHeader, TooManyRedirects, ...
            raise PermanentError(f"{method} {self._safe_url(url)}: {type(exc).__name__}") from None
        if response.status_code >= 400 and response.status_code not in returned_statuses:
            self._raise_for(method, url, response, attempts=1)
        return response

    def _safe_url(self, url: str) -> str:
        return redact_url(url, keep_path=self.show_path)

    def _wait(self, state: RetryCallState) -> float:
        policy = self.retry
        outcome = state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, _RetryableStatus) and exc.response.status_code in RETRY_AFTER_STATUSES:
            retry_after = parse_retry_after(exc.response.headers.get("Retry-After"))
            if retry_after is not None:
                return min(retry_after, policy.max_retry_after)
        return policy.backoff(state.attempt_number)

    def _log_retry(self, method: str, url: str, state: RetryCallState) -> None:
        outcome = state.outcome
        exc = outcome.exception() if outcome is not None else None
        reason = describe_status(exc.response) if isinstance(exc, _RetryableStatus) else type(exc).__name__
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        log.warning("%s %s: %s; attempt %d of %d, retrying in %.1f s", method, self._safe_url(url), reason,
                    state.attempt_number, self.retry.max_attempts, wait)

    def _raise_for(self, method: str, url: str, response: requests.Response, *, attempts: int) -> NoReturn:
        status = response.status_code
        text = f"{method} {self._safe_url(url)}: {describe_status(response)}"
        if status in AUTH_STATUSES:
            raise AuthError(f"{text}: credentials refused or lacking permission")
        if status in RETRY_STATUSES:
            raise TransientError(f"{text} after {attempts} attempts")
        raise PermanentError(text)

