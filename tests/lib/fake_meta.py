"""A loopback fake of Meta's Marketing API custom audiences (docs/platforms.md §6), on the kit.

    with FakeMeta() as meta:                          # token "meta-token", ad account "act_100"
        ... the sink with base_url=meta.base_url ...
        assert meta.members(audience_id) == {sha256 hashes}

Routes, under /v26.0 (any v2x.0 is accepted and recorded in `versions_seen`); the token as
`Authorization: Bearer` or an `access_token` parameter (Meta accepts both; `tokens_in_urls` counts
the second, which leaks the token into logs and proxies):
- GET /act_{id}/customaudiences: id and name of every audience, `limit` per page with an `after` cursor.
- POST /act_{id}/customaudiences: CUSTOM (customer_file_source USER_PROVIDED_ONLY) or LOOKALIKE
  (origin_audience_id with at least 100 members, lookalike_spec with ratio 0.01-0.20 or type, and a
  country); a second lookalike of the same seed, country and ratio is error 2654.
- POST /{audience}/users (form: payload, session): add; DELETE /{audience}/users with the params in
  the query string: remove (a URL over 16 KiB is dropped mid-answer, as Graph does from ~300 users);
  POST /{audience}/usersreplace: a session from batch_seq 1 replaces the members at last_batch_flag.
- payload: {"schema": "EMAIL_SHA256" | "PHONE_SHA256" | ["EMAIL", "PHONE", ...], "data": [...]}, at
  most 10,000 rows; a value that is not 64 lowercase hex (a raw email) is an invalid entry, counted
  in num_invalid_entries and left out, as Meta does.
Errors: {"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}} with HTTP 400 (190 a
bad token, 100 an unknown object or bad parameter, 100/1713230 a flagged audience, 80003 throttled).
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from rfmsync.testing.fakes import FakePlatform, Reply, Request, json_reply

_HASH = re.compile(r"[0-9a-f]{64}")
_SCHEMAS = {"EMAIL_SHA256": ["EMAIL"], "PHONE_SHA256": ["PHONE"]}
MAX_ROWS = 10_000
MAX_URL = 16 * 1024


class MetaError(Exception):
    def __init__(self, code: int, message: str, subcode: int | None = None, kind: str = "OAuthException") -> None:
        super().__init__(message)
        self.code, self.subcode, self.kind = code, subcode, kind


@dataclass
class Audience:
    id: str
    name: str
    subtype: str
    members: set[tuple[str, ...]] = field(default_factory=set)
    operation_status: int = 200
    origin: str | None = None
    spec: dict[str, Any] | None = None
    replacing: set[tuple[str, ...]] | None = None


class FakeMeta(FakePlatform):
    name = "fake_meta"

    def __init__(self, *, token: str = "meta-token", ad_account: str = "act_100") -> None:
        super().__init__()
        self.token, self.ad_account = token, ad_account
        self.audiences: dict[str, Audience] = {}
        self.versions_seen: set[str] = set()
        self.tokens_in_urls = self.invalid_entries = 0
        # A token without ads_management: every write is refused with code 200.
        self.missing_permission = False
        # (operation, audience id, rows) of every accepted add, remove and replace request.
        self.sent: list[tuple[str, str, list[tuple[str, ...]]]] = []
        self._ids = itertools.count(23850000000000001)
        base = r"/(?P<v>v2\d\.0)"
        self.route("POST", base + r"/(?P<act>act_\d+)/customaudiences", "create audience", self._create)
        self.route("GET", base + r"/(?P<act>act_\d+)/customaudiences", "list audiences", self._list)
        self.route("POST", base + r"/(?P<aud>\d+)/users", "add users", self._add)
        self.route("DELETE", base + r"/(?P<aud>\d+)/users", "remove users", self._remove)
        self.route("POST", base + r"/(?P<aud>\d+)/usersreplace", "replace users", self._replace)

    # -- helpers for tests -------------------------------------------------------------------------
    def members(self, audience_id: str) -> set[tuple[str, ...]]:
        with self.lock:
            return set(self.audiences[audience_id].members)

    def by_name(self, name: str) -> Audience:
        with self.lock:
            found = [a for a in self.audiences.values() if a.name == name]
        assert len(found) == 1, f"{len(found)} audiences named {name!r}"
        return found[0]

    def add_audience(self, name: str, subtype: str = "CUSTOM", members: int = 0) -> Audience:
        with self.lock:
            audience = Audience(str(next(self._ids)), name, subtype,
                                {(f"{i:064x}",) for i in range(members)})
            self.audiences[audience.id] = audience
            return audience

    def throttle_next(self, count: int = 1) -> None:
        """The next `count` requests get error 80003, Meta's custom-audience throttle (400, no Retry-After)."""
        self.faults.add(400, count)

    def snapshot(self) -> dict[str, tuple[str, str, frozenset[tuple[str, ...]]]]:
        with self.lock:
            return {a.id: (a.name, a.subtype, frozenset(a.members)) for a in self.audiences.values()}

    # -- the kit -----------------------------------------------------------------------------------
    def resolve(self, request: Request) -> tuple[str, Any, dict[str, str]]:
        kind, handler, groups = self.match(request.method, request.path)
        if handler is None:
            return kind, None, groups
        return kind, self._guarded(handler), groups

    def authorize(self, request: Request, kind: str) -> Reply | None:
        header = request.headers.get("Authorization", "")
        in_url = request.query.get("access_token")
        if in_url is not None:
            self.tokens_in_urls += 1
        token = header.removeprefix("Bearer ") if header.startswith("Bearer ") else in_url
        if token == self.token:
            return None
        return _error(MetaError(190, "Invalid OAuth access token - Cannot parse access token"))

    def error_reply(self, status: int, retry_after: float | None = None) -> Reply:
        if status == 400:  # an injected 400 is Meta's throttle: the status says nothing, the code does
            return _error(MetaError(80003, "There have been too many calls to this ad-account. Wait a bit and "
                                    "try again.", kind="OAuthException"))
        reply = json_reply(status, {"error": {"message": "An unexpected error has occurred. Please retry your "
                                              "request later.", "type": "OAuthException", "code": 2,
                                              "is_transient": True, "fbtrace_id": "Afake"}})
        if retry_after is not None:  # Graph documents none; a proxy in front of it may add one
            reply.headers["Retry-After"] = f"{retry_after:g}"
        return reply

    def _guarded(self, handler: Any) -> Any:
        def run(request: Request, groups: dict[str, str]) -> Reply:
            self.versions_seen.add(groups["v"])
            if len(request.target) > MAX_URL:
                return Reply(200, hang_up=True)  # "Remote end closed connection without response"
            try:
                if self.missing_permission and request.method != "GET":
                    raise MetaError(200, "(#200) Requires ads_management permission to manage the object",
                                    kind="OAuthException")
                return handler(request, groups, _params(request))
            except MetaError as exc:
                return _error(exc)
        return run

    # -- routes ------------------------------------------------------------------------------------
    def _create(self, request: Request, groups: dict[str, str], params: dict[str, str]) -> Reply:
        if groups["act"] != self.ad_account:
            raise MetaError(100, f"Unsupported post request. Object with ID '{groups['act']}' does not exist, "
                            "cannot be loaded due to missing permissions, or does not support this operation",
                            33, "GraphMethodException")
        name, subtype = params.get("name", ""), params.get("subtype", "")
        if not name:
            raise MetaError(100, "(#100) The parameter name is required")
        if subtype == "CUSTOM":
            if params.get("customer_file_source") not in ("USER_PROVIDED_ONLY", "PARTNER_PROVIDED_ONLY",
                                                          "BOTH_USER_AND_PARTNER_PROVIDED"):
                raise MetaError(100, "(#100) customer_file_source must be one of USER_PROVIDED_ONLY, ...")
            audience = Audience(str(next(self._ids)), name, subtype)
        elif subtype == "LOOKALIKE":
            seed = self.audiences.get(params.get("origin_audience_id", ""))
            spec = _json(params.get("lookalike_spec", "{}"))
            ratio, country = spec.get("ratio"), spec.get("country")
            if seed is None or len(seed.members) < 100:
                raise MetaError(100, "(#100) The source audience must have at least 100 people", 1713007)
            if not country or not ((isinstance(ratio, float) and 0.01 <= ratio <= 0.20) or spec.get("type")):
                raise MetaError(100, "(#100) lookalike_spec needs a country and a ratio of 0.01 to 0.20 or a type")
            if any(a.origin == seed.id and a.spec == spec for a in self.audiences.values()):
                raise MetaError(2654, "Can't create a duplicate lookalike")
            audience = Audience(str(next(self._ids)), name, subtype, origin=seed.id, spec=spec)
        else:
            raise MetaError(100, "(#100) subtype must be one of CUSTOM, LOOKALIKE, ...")
        self.audiences[audience.id] = audience
        return json_reply(200, {"id": audience.id})

    def _list(self, request: Request, groups: dict[str, str], params: dict[str, str]) -> Reply:
        if groups["act"] != self.ad_account:
            raise MetaError(100, f"Unsupported get request. Object with ID '{groups['act']}' does not exist", 33,
                            "GraphMethodException")
        limit = min(int(params.get("limit", "25") or 25), 500)
        start = int(params.get("after", "0") or 0)
        audiences = list(self.audiences.values())
        page = audiences[start:start + limit]
        body: dict[str, Any] = {"data": [{"id": a.id, "name": a.name} for a in page]}
        if start + limit < len(audiences):
            body["paging"] = {"cursors": {"after": str(start + limit)}, "next": "https://graph.example/next"}
        return json_reply(200, body)

    def _rows(self, audience_id: str, params: dict[str, str]) -> tuple[Audience, list[tuple[str, ...]], int]:
        audience = self.audiences.get(audience_id)
        if audience is None or audience.subtype != "CUSTOM":
            raise MetaError(100, f"Unsupported request. Object with ID '{audience_id}' does not exist", 33,
                            "GraphMethodException")
        if audience.operation_status == 471:
            raise MetaError(100, "This audience was flagged and cannot be edited", 1713230)
        payload = _json(params.get("payload", ""))
        schema = payload.get("schema")
        keys = _SCHEMAS.get(schema) if isinstance(schema, str) else schema
        data = payload.get("data")
        if not isinstance(keys, list) or not keys or not set(keys) <= {"EMAIL", "PHONE"} or not isinstance(data, list):
            raise MetaError(100, "(#100) payload needs a schema and data")
        if len(data) > MAX_ROWS:
            raise MetaError(100, f"(#100) at most {MAX_ROWS} users per request")
        rows, invalid = [], 0
        for row in data:
            values = tuple(row if isinstance(row, list) else [row])
            if len(values) != len(keys) or not all(v == "" or _HASH.fullmatch(str(v)) for v in values) \
                    or not any(values):
                invalid += 1  # a raw email, a wrong width: Meta counts it and leaves it out
                continue
            rows.append(tuple(str(v) for v in values))
        self.invalid_entries += invalid
        return audience, rows, invalid

    def _received(self, audience: Audience, received: int, invalid: int, params: dict[str, str]) -> Reply:
        session = _json(params.get("session", "{}"))
        return json_reply(200, {"audience_id": audience.id, "session_id": session.get("session_id"),
                                "num_received": received, "num_invalid_entries": invalid,
                                "invalid_entry_samples": {}})

    def _add(self, request: Request, groups: dict[str, str], params: dict[str, str]) -> Reply:
        audience, rows, invalid = self._rows(groups["aud"], params)
        audience.members.update(rows)
        self.sent.append(("add", audience.id, rows))
        return self._received(audience, len(rows) + invalid, invalid, params)

    def _remove(self, request: Request, groups: dict[str, str], params: dict[str, str]) -> Reply:
        audience, rows, invalid = self._rows(groups["aud"], params)
        audience.members.difference_update(rows)
        self.sent.append(("remove", audience.id, rows))
        return self._received(audience, len(rows) + invalid, invalid, params)

    def _replace(self, request: Request, groups: dict[str, str], params: dict[str, str]) -> Reply:
        audience, rows, invalid = self._rows(groups["aud"], params)
        session = _json(params.get("session", "{}"))
        seq = session.get("batch_seq")
        if seq == 1:
            audience.replacing = set()
        elif audience.replacing is None:
            raise MetaError(2650, "Failed to update the custom audience: first batch_seq was not detected", 1870147)
        assert audience.replacing is not None
        audience.replacing.update(rows)
        self.sent.append(("replace", audience.id, rows))
        if session.get("last_batch_flag"):
            audience.members, audience.replacing = audience.replacing, None
        return self._received(audience, len(rows) + invalid, invalid, params)


def _params(request: Request) -> dict[str, str]:
    """Form fields of a POST, query parameters of a DELETE (Graph reads both from either)."""
    params = dict(request.query)
    if request.body:
        params.update(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
    return params


def _json(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        raise MetaError(100, "(#100) Param must be a JSON object") from None
    if not isinstance(value, dict):
        raise MetaError(100, "(#100) Param must be a JSON object")
    return value


def _error(exc: MetaError) -> Reply:
    body: dict[str, Any] = {"message": str(exc), "type": exc.kind, "code": exc.code, "fbtrace_id": "Afake"}
    if exc.subcode is not None:
        body["error_subcode"] = exc.subcode
    return json_reply(400, {"error": body})  # Graph answers 400 for these; classify by code
