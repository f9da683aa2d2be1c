"""Calls to the Mailchimp Marketing API through the mailchimp-marketing SDK, with its quirks handled.

The SDK has no retries: each call runs under the project's policy (connectors/retry.py). Its two
traps (docs/platforms.md §4.8): errors come as `application/problem+json`, which it does not decode, so
`ApiClientError.text` is a raw JSON string; and a response with an empty body, even a 503, is
returned as a `requests.Response` instead of raised. Network errors arrive as `ApiClientError`
with `status_code=None`. Problem `detail` texts can quote an email, so messages use only the
status and the problem `title`.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from typing import Any

import mailchimp_marketing
import requests
from mailchimp_marketing.api_client import ApiClientError
from rfmsync.connectors.http_client import HttpClient
from rfmsync.connectors.mailchimp.config import data_centre
from rfmsync.connectors.retry import RETRY_AFTER_STATUSES, RETRY_STATUSES, RetryPolicy, parse_retry_after, retrying
from rfmsync.core.errors import AuthError, PermanentError, PlatformError, TransientError
from tenacity import RetryCallState

log = logging.getLogger("rfmsync.connectors.mailchimp")
ORIGIN = "mailchimp"


def problem(text: Any) -> dict[str, Any]:
    """The RFC 7807 problem from an ApiClientError's text (a dict, or the raw JSON string)."""
    if isinstance(text, dict):
        return text
    if isinstance(text, str | bytes):
        try:
            value = json.loads(text)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}
    return {}


# Every error status is handed back to the SDK, which raises it; retries happen once, in `call`.
_ERROR_STATUSES = range(400, 600)


class MailchimpApi:
    def __init__(self, api_key: str, *, base_url: str | None, timeout: float, retry: RetryPolicy,
                 session: requests.Session | None = None) -> None:
        self.client = mailchimp_marketing.Client()
        self.client.set_config({"api_key": api_key, "server": data_centre(api_key), "timeout": timeout})
        if base_url:
            # The SDK builds URLs from `host` with "server" replaced by the data centre.
            self.client.api_client.host = base_url.rstrip("/") + "/3.0"
        # The SDK sends each call with module-level requests.get/post: a new connection every time,
        # and the response headers (Retry-After) are lost once it raises. Its transport is replaced
        # by the project's HTTP client (one pooled session, timeouts, redacted errors), with one
        # attempt per call: the retry policy runs around the whole SDK call instead.
        self._transport = HttpClient("", retry=RetryPolicy(max_attempts=1), timeout=(5.0, timeout),
                                     show_path=False, origin=ORIGIN, session=session)
        self._basic_auth = "Basic " + base64.b64encode(f"rfmsync:{api_key}".encode()).decode()
        self.client.api_client.request = self._send
        self._last: requests.Response | None = None
        self.retry = retry
        self.requests = 0

    def _send(self, method: str, url: str, query_params: Any = None, headers: dict[str, str] | None = None,
              body: Any = None) -> requests.Response:
        """The SDK's `ApiClient.request`, through the project's HTTP client."""
        self._last = None
        data = json.dumps(body) if method in ("POST", "PUT", "PATCH") else None
        response = self._transport.request(method, url, data=data, params=query_params,
                                           headers={**(headers or {}), "Authorization": self._basic_auth},
                                           returned_statuses=_ERROR_STATUSES)
        self._last = response
        return response

    def _retry_after(self, status: int) -> float | None:
        last = self._last
        if last is None or last.status_code != status or status not in RETRY_AFTER_STATUSES:
            return None
        return parse_retry_after(last.headers.get("Retry-After"))

    def call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Runs one SDK call under the project's retry policy; `what` names it in messages."""

        def attempt() -> Any:
            self.requests += 1
            try:
                result = fn(*args, **kwargs)
            except ApiClientError as exc:
                if exc.status_code is None:  # connection error or timeout, wrapped by the SDK
                    raise TransientError(f"Mailchimp {what}: network error", origin=ORIGIN) from None
                raise self._error(what, exc.status_code, problem(exc.text).get("title"),
                                  self._retry_after(exc.status_code)) from None
            if not isinstance(result, requests.Response) or result.ok:
                return result
            # An empty-bodied error, which the SDK returns instead of raising.
            raise self._error(what, result.status_code, None, self._retry_after(result.status_code))

        def log_retry(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome is not None else None
            wait = state.next_action.sleep if state.next_action is not None else 0.0
            log.warning("%s; attempt %d of %d, retrying in %.1f s", error, state.attempt_number,
                        self.retry.max_attempts, wait)

        return retrying(self.retry, lambda exc: isinstance(exc, TransientError), log_retry)(attempt)

    @staticmethod
    def _error(what: str, status: int, title: Any, retry_after: float | None) -> PlatformError:
        code = str(title)[:80] if title else None
        label = f"Mailchimp {what}: {status}" + (f" {code}" if code else "")
        kind: type[PlatformError] = PermanentError
        # A bare 403 with no problem body is what Mailchimp answers at very high volume (§4.7): retry it.
        if status in RETRY_STATUSES or (status == 403 and not title):
            kind = TransientError
        elif status == 401:
            kind, label = AuthError, f"{label}: the API key was refused (wrong key, or a key of another data centre)"
        elif status == 403:
            kind, label = AuthError, f"{label}: this API key may not do that"
        return kind(label, origin=ORIGIN, status=status, code=code, retry_after=retry_after)
