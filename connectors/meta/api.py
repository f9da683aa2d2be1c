"""Graph API calls for the Meta sink: one HTTP client, the token in the Authorization header (never
in a URL, where the SDK puts it, §6.7), errors classified by their code rather than the HTTP status
(Meta answers throttling and bad input alike with 400, §6.5)."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import requests
from rfmsync.connectors.http_client import HttpClient, json_object
from rfmsync.connectors.retry import RetryPolicy, parse_retry_after, retrying
from rfmsync.core.errors import AuthError, PermanentError, TransientError
from tenacity import RetryCallState

log = logging.getLogger("rfmsync.connectors.meta")

# Throttling codes (§6.5, §9): 4 app, 17 user, 613 ad account, 80003 custom audiences, 80004 ads management.
THROTTLE_CODES = frozenset({4, 17, 613, 80003, 80004})
AUTH_CODES = frozenset({102, 190})  # an access token that is invalid, expired or revoked
PERMISSION_CODES = frozenset({10, 200, 294})  # the token lacks a permission (ads_management) or the account
FLAGGED_SUBCODE = 1713230  # editing the members of a flagged audience (operation_status 471, §0.11)
MISSING_OBJECT_SUBCODE = 33  # "Object with ID ... does not exist, cannot be loaded due to missing permissions"
# Every 4xx comes back to be read here; 5xx and network errors are the HTTP client's to retry.
_READ_STATUSES = frozenset(range(400, 500))


class MetaError(Exception):
    def __init__(self, code: int | None, subcode: int | None, transient: bool, status: int) -> None:
        super().__init__(code)
        self.code, self.subcode, self.transient, self.status = code, subcode, transient, status


class _Throttled(Exception):
    def __init__(self, code: int | None, retry_after: float) -> None:
        super().__init__(code)
        self.code, self.retry_after = code, retry_after


def _error_of(response: requests.Response) -> MetaError:
    code = subcode = None
    transient = False
    try:
        error = response.json().get("error") or {}
        if isinstance(error, dict):
            code = error.get("code") if isinstance(error.get("code"), int) else None
            subcode = error.get("error_subcode") if isinstance(error.get("error_subcode"), int) else None
            transient = error.get("is_transient") is True
    except (ValueError, AttributeError):
        pass
    return MetaError(code, subcode, transient, response.status_code)


class GraphApi:
    def __init__(self, token: str, base_url: str, version: str, *, retry: RetryPolicy, timeout: float,
                 throttle_wait: float) -> None:
        self.version, self.retry, self.throttle_wait = version, retry, throttle_wait
        self.http = HttpClient(base_url.rstrip("/"), headers={"Authorization": f"Bearer {token}"}, retry=retry,
                               timeout=(5.0, timeout), origin="meta")

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, path: str, params: Mapping[str, Any], *, what: str) -> dict[str, Any]:
        """One Graph call; JSON values in `params` are sent as JSON text (Graph's form encoding).
        DELETE carries them in the query string, as Graph reads them there (§6.2)."""
        encoded = {k: v if isinstance(v, str) else json.dumps(v, separators=(",", ":")) for k, v in params.items()}
        url = f"/{self.version}/{path.lstrip('/')}"
        attempts = 0

        def attempt() -> dict[str, Any]:
            nonlocal attempts
            attempts += 1
            if method in ("GET", "DELETE"):
                response = self.http.request(method, url, params=encoded, returned_statuses=_READ_STATUSES)
            else:
                response = self.http.request(method, url, data=encoded, returned_statuses=_READ_STATUSES)
            if response.status_code < 400:
                return json_object(response, "Meta")
            error = _error_of(response)
            if error.code in THROTTLE_CODES or (error.transient and error.code not in AUTH_CODES):
                # Meta documents no Retry-After (honoured if one comes): minutes, doubling (§6.5).
                asked = parse_retry_after(response.headers.get("Retry-After"))
                raise _Throttled(error.code, asked if asked is not None else self.throttle_wait * 2 ** (attempts - 1))
            raise error

        def log_wait(state: RetryCallState) -> None:
            wait = state.next_action.sleep if state.next_action is not None else 0.0
            log.warning("Meta: %s throttled; attempt %d of %d, waiting %.0f s", what, state.attempt_number,
                        self.retry.max_attempts, wait)

        try:
            return retrying(self.retry, lambda exc: isinstance(exc, _Throttled), log_wait)(attempt)
        except _Throttled as exc:
            raise TransientError(f"Meta: {what}: still throttled (code {exc.code}) after {attempts} attempts; "
                                 "the changes are kept for the next run", origin="meta", code=str(exc.code)) from None
        except MetaError as exc:
            raise self._failure(exc, what) from None

    def _failure(self, error: MetaError, what: str) -> Exception:
        code = f"code {error.code}" + (f", subcode {error.subcode}" if error.subcode else "")
        if error.code in AUTH_CODES or error.status == 401:
            return AuthError(f"Meta: {what}: the access token was refused ({code}): it is invalid, expired or "
                             "revoked; create a new system-user token", origin="meta", status=error.status,
                             code=str(error.code))
        if error.code in PERMISSION_CODES or error.status == 403:
            return AuthError(f"Meta: {what}: permission missing ({code}); the system user needs ads_management "
                             "and access to the ad account", origin="meta", status=error.status, code=str(error.code))
        if error.subcode == FLAGGED_SUBCODE:
            return PermanentError(f"Meta: {what}: the audience is flagged by Meta (operation_status 471, {code}) "
                                  "and cannot be edited; see it in Ads Manager", origin="meta", status=error.status,
                                  code=str(error.code))
        if error.subcode == MISSING_OBJECT_SUBCODE:
            return PermanentError(f"Meta: {what}: refused ({code}): no such ad account or audience, or the token "
                                  "cannot see it; check ad_account_id", origin="meta", status=error.status,
                                  code=str(error.code))
        return PermanentError(f"Meta: {what}: refused ({code})", origin="meta", status=error.status,
                              code=str(error.code))
