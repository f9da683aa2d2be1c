"""Calls to the Mailchimp Marketing API through the mailchimp-marketing SDK, with its quirks handled.

The SDK has no retries, and two traps (platforms.md §4.8): errors come as `application/problem+json`,
which it does not decode, so `ApiClientError.text` is a raw JSON string; and a response with an
empty body, even a 503, is returned as a `requests.Response` instead of raised. Network errors
arrive as `ApiClientError` with `status_code=None`. Problem `detail` texts can quote an email, so
messages use only the status and the problem `title`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import mailchimp_marketing
import requests
from mailchimp_marketing.api_client import ApiClientError
from rfmsync.connectors.http_client import RETRY_STATUSES, RetryPolicy
from rfmsync.connectors.mailchimp.config import data_centre
from rfmsync.core.errors import AuthError, PermanentError, TransientError

log = logging.getLogger("rfmsync.connectors.mailchimp")


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


class MailchimpApi:
    def __init__(self, api_key: str, *, base_url: str | None, timeout: float, retry: RetryPolicy) -> None:
        self.client = mailchimp_marketing.Client()
        self.client.set_config({"api_key": api_key, "server": data_centre(api_key), "timeout": timeout})
        if base_url:
            # The SDK builds URLs from `host` with "server" replaced by the data centre.
            self.client.api_client.host = base_url.rstrip("/") + "/3.0"
        self.retry = retry
        self.requests = 0

    def call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Runs one SDK call with the project's retry policy; `what` names it in messages."""
        attempt = 0
        while True:
            attempt += 1
            self.requests += 1
            try:
                result = fn(*args, **kwargs)
            except ApiClientError as exc:
                status = exc.status_code
                if status is None:  # connection error or timeout, wrapped by the SDK
                    error: Exception = TransientError(f"Mailchimp {what}: network error")
                else:
                    error = self._error(what, status, problem(exc.text).get("title"))
            else:
                if not isinstance(result, requests.Response) or result.ok:
                    return result
                error = self._error(what, result.status_code, None)  # an empty-body error, not raised by the SDK
            if not isinstance(error, TransientError) or attempt >= self.retry.max_attempts:
                raise error
            wait = self.retry.backoff(attempt)
            log.warning("%s; attempt %d of %d, retrying in %.1f s", error, attempt, self.retry.max_attempts, wait)
            self.retry.sleep(wait)

    @staticmethod
    def _error(what: str, status: int, title: Any) -> Exception:
        label = f"Mailchimp {what}: {status}" + (f" {str(title)[:80]}" if title else "")
        # A bare 403 with no problem body is what Mailchimp answers at very high volume (§4.7): retry it.
        if status in RETRY_STATUSES or (status == 403 and not title):
            return TransientError(label)
        if status == 401:
            return AuthError(f"{label}: the API key was refused (wrong key, or a key of another data centre)")
        if status == 403:
            return AuthError(f"{label}: this API key may not do that")
        return PermanentError(label)
