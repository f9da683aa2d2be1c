"""A loopback fake of Google's Data Manager API audience ingestion (docs/platforms.md §7.2), on the kit.

    with FakeGoogle() as google:              # token "ya29.fake", Ads account "1234567890", lists 555, 556
        ... the sink with base_url=google.base_url ...
        assert google.members("1234567890", "555") == {(("emailAddress", hash),), ...}

Routes (host https://datamanager.googleapis.com in production), `Authorization: Bearer` only:
- POST /v1/audienceMembers:ingest, POST /v1/audienceMembers:remove: destinations (1-10), audience
  members (at most 10,000, each with 1-10 user identifiers), `encoding` HEX or BASE64 required, ingest
  also `termsOfService.customerMatchTermsOfServiceStatus` ACCEPTED. Enum values as names or integers,
  as the python client sends them. A hash that is not 64 hex characters fails the whole request
  (INVALID_SHA256_FORMAT). Answers {"requestId"}; nothing is applied until the request is polled.
- POST /v1/audienceMembers:removeAll: every member of the destinations, or those ingested before
  `removeAsOfTime`.
- GET /v1/requestStatus:retrieve?requestId=...: PROCESSING for `polls_per_request` polls, then
  SUCCESS, when the members are applied.
- POST /token: the OAuth endpoint a service account key file (`service_account_file`) points at: a
  JWT signed with that key for the datamanager scope gets a fresh token.
Consent as recorded per member (`consents`): the request's `consent`, a member's own overriding it;
nothing is assumed granted. Errors are google.rpc.Status with an ErrorInfo reason.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

from rfmsync.testing.fakes import FakePlatform, Reply, Request, json_reply

_HEX = re.compile(r"[0-9a-fA-F]{64}")
_ACCOUNT_TYPES = {"GOOGLE_ADS": "GOOGLE_ADS", 1: "GOOGLE_ADS"}
_ENCODINGS = {"HEX": "HEX", 1: "HEX", "BASE64": "BASE64", 2: "BASE64"}
_CONSENTS = {"CONSENT_STATUS_UNSPECIFIED": None, 0: None, "CONSENT_GRANTED": "GRANTED", 1: "GRANTED",
             "CONSENT_DENIED": "DENIED", 2: "DENIED"}
_ACCEPTED = ("ACCEPTED", 1)
_STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
MAX_MEMBERS, MAX_IDENTIFIERS, MAX_DESTINATIONS = 10_000, 10, 10
Member = tuple[tuple[str, str], ...]  # ((identifier kind, hash), ...)


class GoogleError(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason = status, reason


@dataclass
class Pending:
    kind: str  # ingest, remove, removeAll
    destinations: list[tuple[str, str]]  # (operating account, user list)
    members: list[Member]
    as_of: float | None = None
    polls: int = 0
    done: bool = False


@dataclass
class UserList:
    members: dict[Member, float] = field(default_factory=dict)  # member -> when ingested


class FakeGoogle(FakePlatform):
    name = "fake_google"

    def __init__(self, *, tokens: tuple[str, ...] = ("ya29.fake",), account: str = "1234567890",
                 lists: tuple[str, ...] = ("555", "556"), manager: str | None = "9876543210",
                 polls_per_request: int = 1) -> None:
        super().__init__()
        self.tokens, self.manager, self.polls_per_request = set(tokens), manager, polls_per_request
        self.accounts: dict[str, dict[str, UserList]] = {account: {list_id: UserList() for list_id in lists}}
        self.requests_made: dict[str, Pending] = {}
        self.consents: dict[Member, tuple[str | None, str | None]] = {}  # (adUserData, adPersonalization)
        self._clock = itertools.count(1)
        self.route("POST", "/v1/audienceMembers:ingest", "ingest", lambda r, g: self._members(r, "ingest"))
        self.route("POST", "/v1/audienceMembers:remove", "remove", lambda r, g: self._members(r, "remove"))
        self.route("POST", "/v1/audienceMembers:removeAll", "removeAll", self._remove_all)
        self.route("GET", "/v1/requestStatus:retrieve", "status", self._status)
        self.route("POST", "/token", "token", self._token)
        # Service accounts the token endpoint knows: client email -> public key (PEM); tokens issued.
        self.service_accounts: dict[str, bytes] = {}
        self.tokens_issued = 0

    # -- helpers for tests -------------------------------------------------------------------------
    def members(self, account: str, list_id: str) -> set[Member]:
        with self.lock:
            return set(self.accounts[account][list_id].members)

    def snapshot(self) -> dict[tuple[str, str], frozenset[Member]]:
        with self.lock:
            return {(account, list_id): frozenset(user_list.members) for account, lists in self.accounts.items()
                    for list_id, user_list in lists.items()}

    # -- the kit -----------------------------------------------------------------------------------
    def service_account_file(self, path: Any, email: str = "rfmsync@shop-project.iam.gserviceaccount.com") -> None:
        """Writes a service account key file whose token_uri is this fake's /token, and trusts its key."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
        self.service_accounts[email] = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        path.write_text(json.dumps({"type": "service_account", "project_id": "shop-project",
                                    "private_key_id": "k1", "private_key": private, "client_email": email,
                                    "client_id": "1", "token_uri": f"{self.base_url}/token"}), encoding="utf-8")

    def authorize(self, request: Request, kind: str) -> Reply | None:
        if kind == "token":
            return None
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer ") and header[7:] in self.tokens:
            return None
        return _status(GoogleError(401, "UNAUTHENTICATED", "Request had invalid authentication credentials."))

    def error_reply(self, status: int, retry_after: float | None = None) -> Reply:
        reason = _STATUS_NAMES.get(status, "INTERNAL")
        reply = _status(GoogleError(status, reason, HTTPStatus(status).phrase))
        if retry_after is not None:
            reply.headers["Retry-After"] = f"{retry_after:g}"
        return reply

    # -- routes ------------------------------------------------------------------------------------
    def _members(self, request: Request, kind: str) -> Reply:
        try:
            body = _object(request)
            destinations = self._destinations(body)
            members = body.get("audienceMembers")
            if not isinstance(members, list) or not members:
                raise GoogleError(400, "INVALID_ARGUMENT", "audienceMembers is required")
            if len(members) > MAX_MEMBERS:
                raise GoogleError(400, "TOO_MANY_AUDIENCE_MEMBERS", f"At most {MAX_MEMBERS} audience members")
            if _ENCODINGS.get(body.get("encoding")) is None:
                raise GoogleError(400, "INVALID_ARGUMENT", "encoding is required for UserData")
            if kind == "ingest":
                terms = (body.get("termsOfService") or {}).get("customerMatchTermsOfServiceStatus")
                if terms not in _ACCEPTED:
                    raise GoogleError(400, "TERMS_AND_CONDITIONS_NOT_SIGNED", "Customer Match terms not accepted")
            request_consent = self._consent(body.get("consent")) if kind == "ingest" else (None, None)
            parsed = []
            for member in members:
                identifiers = ((member.get("userData") or {}).get("userIdentifiers") if isinstance(member, dict)
                               else None)
                if not isinstance(identifiers, list) or not 1 <= len(identifiers) <= MAX_IDENTIFIERS:
                    raise GoogleError(400, "TOO_MANY_USER_IDENTIFIERS", "1 to 10 user identifiers per member")
                key = tuple(sorted(_identifier(i) for i in identifiers))
                parsed.append(key)
                if kind == "ingest":
                    own = member.get("consent")
                    self.consents[key] = self._consent(own) if own is not None else request_consent
        except GoogleError as exc:
            return _status(exc)
        return self._accept(Pending(kind, destinations, parsed))

    def _token(self, request: Request, groups: dict[str, str]) -> Reply:
        """Google's OAuth token endpoint for a service account's signed JWT (RFC 7523)."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding

        form = dict(parse_qsl(request.body.decode()))
        refused = json_reply(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return json_reply(400, {"error": "unsupported_grant_type"})
        try:
            head, payload, signature = form.get("assertion", "").split(".")
            claims = json.loads(_unb64(payload))
            public = serialization.load_pem_public_key(self.service_accounts[claims["iss"]])
            public.verify(_unb64(signature), f"{head}.{payload}".encode(), padding.PKCS1v15(),  # type: ignore[union-attr,call-arg]
                          hashes.SHA256())  # type: ignore[call-arg]
        except (ValueError, KeyError, InvalidSignature):
            return refused
        if "https://www.googleapis.com/auth/datamanager" not in str(claims.get("scope", "")).split():
            return json_reply(400, {"error": "invalid_scope"})
        self.tokens_issued += 1
        token = f"ya29.sa{self.tokens_issued}"
        self.tokens.add(token)
        return json_reply(200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    def _remove_all(self, request: Request, groups: dict[str, str]) -> Reply:
        try:
            body = _object(request)
            destinations = self._destinations(body)
            as_of = body.get("removeAsOfTime")
            at = None
            if as_of is not None:
                at = datetime.fromisoformat(str(as_of).replace("Z", "+00:00")).timestamp()
        except (GoogleError, ValueError) as exc:
            return _status(exc if isinstance(exc, GoogleError) else GoogleError(400, "INVALID_ARGUMENT", "bad time"))
        return self._accept(Pending("removeAll", destinations, [], as_of=at))

    def _accept(self, pending: Pending) -> Reply:
        request_id = str(uuid.uuid4())
        self.requests_made[request_id] = pending
        return json_reply(200, {"requestId": request_id})

    def _status(self, request: Request, groups: dict[str, str]) -> Reply:
        pending = self.requests_made.get(request.query.get("requestId", ""))
        if pending is None:
            return _status(GoogleError(404, "NOT_FOUND", "Request not found"))
        pending.polls += 1
        if not pending.done and pending.polls > self.polls_per_request:
            self._apply(pending)
        state = "SUCCESS" if pending.done else "PROCESSING"
        key = {"ingest": "audienceMembersIngestionStatus", "remove": "audienceMembersRemovalStatus",
               "removeAll": "removeAllAudienceMembersStatus"}[pending.kind]
        counts = {"recordCount": len(pending.members),
                  "userIdentifierCount": sum(len(m) for m in pending.members)}
        return json_reply(200, {"requestStatusPerDestination": [
            {"destination": {"operatingAccount": {"accountType": "GOOGLE_ADS", "accountId": account},
                             "productDestinationId": list_id},
             "requestStatus": state, key: {"userDataIngestionStatus": counts}}
            for account, list_id in pending.destinations]})

    def _apply(self, pending: Pending) -> None:
        now = time.time() + next(self._clock) * 1e-6  # strictly increasing, for removeAsOfTime
        for account, list_id in pending.destinations:
            user_list = self.accounts[account][list_id]
            if pending.kind == "ingest":
                for member in pending.members:
                    user_list.members.setdefault(member, now)
            elif pending.kind == "remove":
                for member in pending.members:
                    user_list.members.pop(member, None)
            else:
                as_of = pending.as_of
                user_list.members = {m: at for m, at in user_list.members.items() if as_of is not None and at >= as_of}
        pending.done = True

    def _destinations(self, body: dict[str, Any]) -> list[tuple[str, str]]:
        destinations = body.get("destinations")
        if not isinstance(destinations, list) or not 1 <= len(destinations) <= MAX_DESTINATIONS:
            raise GoogleError(400, "INVALID_ARGUMENT", "1 to 10 destinations")
        found = []
        for d in destinations:
            operating = d.get("operatingAccount") or {}
            account = str(operating.get("accountId", ""))
            if _ACCOUNT_TYPES.get(operating.get("accountType")) is None or account not in self.accounts:
                raise GoogleError(400, "INVALID_DESTINATION", "Unknown operating account")
            login = d.get("loginAccount")
            if login is not None and str(login.get("accountId")) not in (account, self.manager):
                raise GoogleError(403, "OPERATING_ACCOUNT_LOGIN_ACCOUNT_MISMATCH", "Login account cannot manage it")
            list_id = str(d.get("productDestinationId", ""))
            if list_id not in self.accounts[account]:
                raise GoogleError(400, "INVALID_USER_LIST_ID", "Unknown user list")
            found.append((account, list_id))
        return found

    def _consent(self, consent: Any) -> tuple[str | None, str | None]:
        if consent is None:
            return (None, None)
        if not isinstance(consent, dict) or any(consent.get(k, 0) not in _CONSENTS
                                                for k in ("adUserData", "adPersonalization")):
            raise GoogleError(400, "INVALID_ARGUMENT", "Invalid consent status")
        return (_CONSENTS[consent.get("adUserData", 0)], _CONSENTS[consent.get("adPersonalization", 0)])


def _identifier(identifier: Any) -> tuple[str, str]:
    if not isinstance(identifier, dict) or len(identifier) != 1:
        raise GoogleError(400, "INVALID_ARGUMENT", "A user identifier has exactly one of its fields")
    (kind, value), = identifier.items()
    if kind not in ("emailAddress", "phoneNumber"):
        raise GoogleError(400, "INVALID_ARGUMENT", f"Unsupported user identifier {kind}")
    if not isinstance(value, str) or not _HEX.fullmatch(value):
        raise GoogleError(400, "INVALID_SHA256_FORMAT", "The SHA256 hash is not formatted correctly")
    return (kind, value.lower())


def _object(request: Request) -> dict[str, Any]:
    try:
        body = request.json()
    except ValueError:
        raise GoogleError(400, "INVALID_ARGUMENT", "Invalid JSON payload received") from None
    if not isinstance(body, dict):
        raise GoogleError(400, "INVALID_ARGUMENT", "Invalid JSON payload received")
    return body


def _status(exc: GoogleError) -> Reply:
    return json_reply(exc.status, {"error": {
        "code": exc.status, "message": str(exc), "status": _STATUS_NAMES.get(exc.status, "UNKNOWN"),
        "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": exc.reason,
                     "domain": "datamanager.googleapis.com", "metadata": {}}]}})


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
