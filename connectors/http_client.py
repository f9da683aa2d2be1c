"""The HTTP client every HTTP connector uses: one `requests.Session`, a timeout on every call,
tenacity retries, and errors from the one exception tree whose messages are safe to log.

- Retried under the one policy (connectors/retry.py): 408, 429, 500-599, connection errors and
  timeouts; a `Retry-After` on 429 or 503 replaces the backoff, capped.
- Raised once retries are spent or for a status not worth retrying: 401/403 -> AuthError,
  408/429/5xx/connection -> TransientError, any other 4xx -> PermanentError, each carrying its
  origin, status, code and Retry-After (core/errors.py PlatformError). Redirects are followed
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

import logging
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from http import HTTPStatus
from typing import Any, NoReturn
from urllib.parse import urlsplit

import requests
from rfmsync import __version__
from rfmsync.connectors.retry import RETRY_AFTER_STATUSES, RETRY_STATUSES, RetryPolicy, parse_retry_after, retrying
from rfmsync.core.errors import AuthError, PermanentError, PlatformError, TransientError
from tenacity import RetryCallState

log = logging.getLogger("rfmsync.http")

AUTH_STATUSES = frozenset({401, 403})

# Error bodies are parsed for a short code only when small: a multi-megabyte HTML error page is
# not worth decoding, and the code is never more than a few words.
_MAX_ERROR_BODY = 64 * 1024
_MAX_CODE_LEN = 60
# A code or title is shown only when it looks like one: starts with a letter, no '@', no long
# digit runs (phone numbers, account ids), only word characters, spaces, dots and dashes.
_SAFE_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_ .\-]*")
_DIGIT_RUN = re.compile(r"\d{6,}")


def _default_user_agent() -> str:
    return f"rfmsync/{__version__} python-requests/{requests.__version__}"


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


def error_code(response: requests.Response) -> str | None:
    """A short, safe error code or title from a JSON error body, or None.

    Reads the shapes of the platforms in docs/platforms.md: RFC 7807 `title` (Mailchimp),
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
        self.retry_after = _retry_after(response)


def _retry_after(response: requests.Response) -> float | None:
    if response.status_code not in RETRY_AFTER_STATUSES:
        return None
    return parse_retry_after(response.headers.get("Retry-After"))


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
                 show_path: bool = True, session: requests.Session | None = None, origin: str | None = None) -> None:
        # (connect, read): connecting should be quick everywhere; reads wait on the platform's own
        # work (Mailchimp cuts requests off at 120 s, docs/platforms.md §4.7), so callers raise it.
        self.base_url = base_url
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.show_path = show_path
        # Names the platform on every error this client raises; default: the host.
        self.origin = origin or (urlsplit(base_url).hostname if base_url else None)
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
                params: Mapping[str, str] | Sequence[tuple[str, str]] | None = None, allow_redirects: bool = True,
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

        try:
            response = retrying(policy, _worth_retrying, lambda state: self._log_retry(method, url, state))(attempt)
        except _RetryableStatus as exc:
            self._raise_for(method, url, exc.response, attempts=policy.max_attempts)
        except requests.exceptions.SSLError:
            # `from None` throughout: a requests exception's text and traceback hold the full URL.
            raise PermanentError(f"{method} {self._safe_url(url)}: TLS failed (certificate or protocol); "
                                 "not retried", origin=self.origin) from None
        except _RETRY_EXCEPTIONS as exc:
            raise TransientError(f"{method} {self._safe_url(url)}: {type(exc).__name__} after "
                                 f"{policy.max_attempts} attempts", origin=self.origin) from None
        except requests.RequestException as exc:  # InvalidURL, InvalidHeader, TooManyRedirects, ...
            raise PermanentError(f"{method} {self._safe_url(url)}: {type(exc).__name__}", origin=self.origin) from None
        if response.status_code >= 400 and response.status_code not in returned_statuses:
            self._raise_for(method, url, response, attempts=1)
        return response

    def _safe_url(self, url: str) -> str:
        return redact_url(url, keep_path=self.show_path)

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
        kind: type[PlatformError] = PermanentError
        if status in AUTH_STATUSES:
            kind, text = AuthError, f"{text}: credentials refused or lacking permission"
        elif status in RETRY_STATUSES:
            kind, text = TransientError, f"{text} after {attempts} attempts"
        raise kind(text, origin=self.origin, status=status, code=error_code(response),
                   retry_after=_retry_after(response))


def json_object(response: requests.Response, platform: str) -> dict[str, Any]:
    """A 2xx answer's JSON object; a body that is none (an HTML page from a proxy, a cut answer) is a
    TransientError naming the platform, to be tried again on the next run."""
    try:
        answer = response.json()
    except ValueError:
        raise TransientError(f"{platform}: an answer that is not JSON", origin=platform.lower()) from None
    if not isinstance(answer, dict):
        raise TransientError(f"{platform}: an answer that is not a JSON object", origin=platform.lower())
    return answer
