"""Data Manager API calls for the Google sink: OAuth tokens from google-auth, requests paced under
the project's per-minute quota, google.rpc.Status errors classified by their ErrorInfo reason."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import google.auth
import google.auth.exceptions
import requests
from google.auth.credentials import Credentials
from google.auth.transport.requests import Request as AuthRequest
from google.oauth2 import service_account
from rfmsync.connectors.http_client import HttpClient, json_object
from rfmsync.connectors.pacing import RateWindows
from rfmsync.connectors.retry import RetryPolicy, parse_retry_after, retrying
from rfmsync.core.errors import AuthError, PermanentError, TransientError
from tenacity import RetryCallState

log = logging.getLogger("rfmsync.connectors.google")

SCOPE = "https://www.googleapis.com/auth/datamanager"
# 429 and 401 come back to be read here (a wait into the next minute; one token refresh); 5xx and
# network errors are the HTTP client's to retry.
_READ_STATUSES = frozenset(range(400, 500))


class GoogleApiError(Exception):
    def __init__(self, status: int, state: str, reason: str | None) -> None:
        super().__init__(status)
        self.status, self.state, self.reason = status, state, reason


class _Throttled(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


def _error_of(response: requests.Response) -> GoogleApiError:
    state, reason = "", None
    try:
        error = response.json().get("error") or {}
        state = str(error.get("status") or "")
        for detail in error.get("details") or []:
            if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("google.rpc.ErrorInfo"):
                reason = str(detail.get("reason") or "") or None
                break
    except (ValueError, AttributeError):
        pass
    return GoogleApiError(response.status_code, state, reason)


class Token:
    """Bearer tokens: a fixed access token, a service account's key file, or application default
    credentials; refreshed by google-auth when they expire."""

    def __init__(self, *, access_token: str | None, credentials_file: Path | None, session: requests.Session) -> None:
        self._fixed = access_token
        self._file = credentials_file
        self._session = session
        self._credentials: Credentials | None = None

    def header(self, *, refresh: bool = False) -> dict[str, str]:
        if self._fixed is not None:
            return {"Authorization": f"Bearer {self._fixed}"}
        credentials = self._credentials or self._load()
        if refresh or not credentials.valid:
            try:
                credentials.refresh(AuthRequest(self._session))  # type: ignore[no-untyped-call]
            except google.auth.exceptions.RefreshError as exc:
                raise AuthError(f"Google: getting a token failed, the credentials were refused "
                                f"({_refresh_reason(exc)}); check the service account key and that it is enabled",
                                origin="google") from None
            except google.auth.exceptions.TransportError:
                raise TransientError("Google: the token endpoint could not be reached", origin="google") from None
        return {"Authorization": f"Bearer {credentials.token}"}

    @property
    def refreshable(self) -> bool:
        return self._fixed is None

    def _load(self) -> Credentials:
        try:
            if self._file is not None:
                loaded: Credentials = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
                    str(self._file), scopes=[SCOPE])
            else:
                loaded, _ = google.auth.default(scopes=[SCOPE])
        except FileNotFoundError:
            raise PermanentError(f"Google: credentials_file {self._file}: no such file", origin="google") from None
        except (ValueError, KeyError, OSError) as exc:
            raise PermanentError(f"Google: credentials_file {self._file}: not a service account key file "
                                 f"({type(exc).__name__})", origin="google") from None
        except google.auth.exceptions.DefaultCredentialsError:
            raise AuthError("Google: no credentials_file and no application default credentials found; set "
                            "credentials_file or GOOGLE_APPLICATION_CREDENTIALS", origin="google") from None
        self._credentials = loaded
        return loaded


def _refresh_reason(exc: google.auth.exceptions.RefreshError) -> str:
    # The first argument is "invalid_grant: ..." style text from the token endpoint; keep the code only.
    text = str(exc.args[0]) if exc.args else ""
    code = text.split(":", 1)[0].strip()
    return code if code.replace("_", "").isalnum() and len(code) < 40 else "refused"


class DataManagerApi:
    def __init__(self, base_url: str, token: Token, *, retry: RetryPolicy, timeout: float, pacer: RateWindows,
                 session: requests.Session) -> None:
        self.retry, self.token, self.pacer = retry, token, pacer
        self.http = HttpClient(base_url.rstrip("/"), retry=retry, timeout=(5.0, timeout), origin="google",
                               session=session)

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, path: str, *, body: dict[str, Any] | None = None,
             params: dict[str, str] | None = None, what: str) -> dict[str, Any]:
        refreshed = False

        def headers() -> dict[str, str]:
            # Called before every attempt, the HTTP client's 5xx retries included: each is paced and
            # carries a token that is still valid.
            self.pacer.wait()
            return self.token.header()

        def attempt() -> dict[str, Any]:
            nonlocal refreshed
            response = self.http.request(method, path, json=body, params=params, headers=headers,
                                         returned_statuses=_READ_STATUSES)
            if response.status_code == 401 and self.token.refreshable and not refreshed:
                refreshed = True  # a token revoked early: one fresh one, then the error stands
                self.token.header(refresh=True)
                response = self.http.request(method, path, json=body, params=params, headers=headers,
                                             returned_statuses=_READ_STATUSES)
            if response.status_code == 429:
                # A per-minute quota: Retry-After if given, else into the next minute (§7.2).
                raise _Throttled(parse_retry_after(response.headers.get("Retry-After")) or 60.0)
            if response.status_code >= 400:
                raise _error_of(response)
            return json_object(response, "Google")

        def log_wait(state: RetryCallState) -> None:
            wait = state.next_action.sleep if state.next_action is not None else 0.0
            log.warning("Google: %s over the request quota (429); attempt %d of %d, waiting %.0f s", what,
                        state.attempt_number, self.retry.max_attempts, wait)

        try:
            return retrying(self.retry, lambda exc: isinstance(exc, _Throttled), log_wait)(attempt)
        except _Throttled:
            raise TransientError(f"Google: {what}: still over the request quota (429 RESOURCE_EXHAUSTED); the "
                                 "changes are kept for the next run", origin="google", status=429) from None
        except GoogleApiError as exc:
            raise _failure(exc, what) from None


def _failure(error: GoogleApiError, what: str) -> Exception:
    label = error.reason or error.state or str(error.status)
    text = f"Google: {what}: HTTP {error.status} {error.state or ''} ({label})".replace("  ", " ")
    if error.status == 401:
        return AuthError(f"{text}: the credentials were refused (revoked or expired)", origin="google",
                         status=401, code=label)
    if error.status == 403 or error.reason in ("PERMISSION_DENIED", "OPERATING_ACCOUNT_LOGIN_ACCOUNT_MISMATCH"):
        return AuthError(f"{text}: permission missing; add the credentials' user to the Ads account (and check "
                         "login_account_id)", origin="google", status=error.status, code=label)
    hints = {"INVALID_DESTINATION": "unknown operating_account_id or no access to it",
             "INVALID_OPERATING_ACCOUNT": "unknown operating_account_id",
             "INVALID_USER_LIST_ID": "no such user list in the operating account; check user_lists",
             "TERMS_AND_CONDITIONS_NOT_SIGNED": "the account has not accepted Google's Customer Match terms",
             "EU_POLITICAL_ADVERTISING_DECLARATION_REQUIRED": "the account needs the EU political ads declaration"}
    hint = hints.get(error.reason or "")
    return PermanentError(f"{text}{': ' + hint if hint else ''}", origin="google", status=error.status, code=label)
