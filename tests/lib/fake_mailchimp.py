"""A loopback fake of the Mailchimp Marketing API v3 (platforms.md §4), for the Mailchimp sink's tests.

    with FakeMailchimp() as fake:                     # api_key "fakekey-us21"
        fake.add_list("abc123")
        fake.add_member("abc123", "ada@example.com", tags=["VIP"])
        ... the sink with base_url=fake.base_url (in place of https://{dc}.api.mailchimp.com) ...
        assert fake.status_changes == []

Pointing the mailchimp_marketing SDK at it: the SDK builds `host + resource_path` and then replaces
EVERY "server" substring of that URL with config["server"] (default: the key's suffix after "-"), so
set the host after set_config (set_config leaves host alone) and keep "server" out of list ids:

    client = mailchimp_marketing.Client()
    client.set_config({"api_key": fake.api_key, "server": "us21"})
    client.api_client.host = fake.api_url            # == fake.base_url + "/3.0"

Constructor (all keyword): api_key="fakekey-us21", polls_per_state=1, batch_states=("pending",
"started"), results_per_file=100, max_pending_batches=500, latency=0.0 (seconds slept inside every
request), archive_rejects_auth=True.

Helpers (not requests; never recorded): add_list(list_id, name=None) (with FNAME, LNAME),
add_merge_field(list_id, tag, name=None, type="text"), merge_field_definitions(list_id),
add_member(list_id, email, status="subscribed", tags=(), merge_fields=None), generate_members(list_id,
n, seed=0, *, email_format="customer{i}@example.com", start=1, mix=None, tag_pool=()) -> emails,
member(list_id, email) -> {"id", "email_address", "status", "tags": set, "merge_fields": the values
set}, has_member, set_status(list_id, email, status), fail_member(email, status=400, title="Invalid
Resource", detail=<"... signed up to a lot of lists very recently ...">, *, errors=None, count=None),
fail_next(status=503, count=1, empty_body=False, kind=None) (the next `count` requests, or of
requests_by_kind key `kind`: a problem+json, 429 "Too Many Requests" etc., or no body at all),
finish_batches(), pending_batches.

Routes (all under /3.0, HTTP Basic with password == api_key, any user; else 401 problem+json):
  GET / (account); GET /ping; GET /lists/{id} (stats.member_count = subscribed members); POST
  /lists/{id} (batch subscribe); GET|POST /lists/{id}/merge-fields; GET /lists/{id}/members;
  GET|PATCH|PUT|DELETE /lists/{id}/members/{hash} (DELETE archives); GET|POST
  /lists/{id}/members/{hash}/tags; POST|GET /batches; GET|DELETE /batches/{id}. Every GET honours
  `fields` / `exclude_fields`; count/offset page merge-fields and members. {hash} may be the email.
  GET /archives/{id}.tar.gz?X-Amz-...&X-Amz-Signature=... (no /3.0, no auth: a presigned S3 URL;
  like S3 it refuses a request that also carries an Authorization header, 400 XML, unless
  archive_rejects_auth=False, and a wrong signature, 403 XML).
Errors are RFC 7807 with Content-Type application/problem+json (the SDK does not decode them); an
empty_body fault has no body (the SDK returns the requests.Response instead of raising).

Batches: POST /batches validates every operation (`body` must be a JSON *string*) and answers
status "pending"; each GET /batches/{id} is a poll: `polls_per_state` polls in each of `batch_states`
(0: finished at the first poll), then "finished", when the operations are applied in order. Over
max_pending_batches unfinished batches, POST /batches is a 429. An operation path is relative to
/3.0 ("/lists/abc/members/<hash>"); another path (or a /batches one) is a fake failure. The archive
holds a directory entry and one JSON file per `results_per_file` results: [{"status_code",
"operation_id", "response": "<JSON string>"}], "" as the response of a 204.

Member rules (direct or in a batch): PATCH updates only (404 if absent); PUT upserts and needs
email_address hashing to {hash} and, for a new (or archived) member, status_if_new; merge_fields
merge into the member's, an unknown tag (or a non-number for a number field) is a 400 with
errors [{"field": "merge_fields.X", ...}]; a `status` is applied, except "subscribed" on an
unsubscribed/cleaned member (or "pending" on a cleaned one): 400 "Member In Compliance State",
recorded in consent_violations. Tags: active adds, inactive removes (fine if absent), 204. A failed
operation changes nothing.

Counters (plain attributes): requests, requests_by_kind (Counter: "GET /ping", "GET /lists/{id}",
"GET /lists/{id}/merge-fields", "POST /lists/{id}/merge-fields", "PATCH /lists/{id}/members/{hash}",
"PUT ...", "POST /lists/{id}/members/{hash}/tags", "POST /batches", "GET /batches/{id}", "GET archive",
...; faults and 401s included), write_requests (POST/PUT/PATCH/DELETE requests that arrived, a
POST /batches is one), operations_applied, operations_by_kind (Counter), status_changes
[(email, old or None when created, new)] for every status a request changed, consent_violations
[(email, current, refused)], statuses_sent [(email, method, value)] for every body with `status`,
members_created [(email, status)], max_concurrent / in_flight (requests between arrival and their
reply being ready; the count drops before the reply is written, so a client never overlaps itself),
merge_field_creations, batches_started, batches_rejected, batch_polls, archive_downloads,
unauthorized, injected_failures, member_failures_served, tag_updates, calls [(kind, status)],
failures (fake-side errors: an unsupported route or a crash; close()/__exit__ raise on them).
"""

from __future__ import annotations

import base64
import collections
import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from fake_mailchimp_batch import Batch, Operation, build_archive, parse_operations, result
from fake_mailchimp_data import MERGE_TYPES, Problem, invalid, now_iso, project
from fake_mailchimp_http import Reply, Request, loopback_server
from fake_mailchimp_members import MemberOps

PROBLEM = "application/problem+json"
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
S3_TWO_AUTHS = (b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InvalidArgument</Code><Message>Only one "
                b"auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string "
                b"parameter or the Authorization header should be specified</Message></Error>")
S3_DENIED = (b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied"
             b"</Message></Error>")
Handler = Callable[[dict[str, str], dict[str, str], Any], tuple[int, Any]]  # (path groups, query, body)


@dataclass
class _Fault:
    status: int
    empty_body: bool
    kind: str | None


class FakeMailchimp(MemberOps):
    def __init__(self, *, api_key: str = "fakekey-us21", polls_per_state: int = 1,
                 batch_states: tuple[str, ...] = ("pending", "started"), results_per_file: int = 100,
                 max_pending_batches: int = 500, latency: float = 0.0, archive_rejects_auth: bool = True) -> None:
        super().__init__()
        self.api_key, self.polls_per_state, self.batch_states = api_key, polls_per_state, batch_states
        self.results_per_file, self.max_pending_batches = results_per_file, max_pending_batches
        self.latency, self.archive_rejects_auth = latency, archive_rejects_auth
        self.batches: dict[str, Batch] = {}
        self._faults: collections.deque[_Fault] = collections.deque()
        self._flight = threading.Lock()
        self.requests = self.write_requests = self.operations_applied = self.merge_field_creations = 0
        self.batches_started = self.batches_rejected = self.batch_polls = self.archive_downloads = 0
        self.unauthorized = self.injected_failures = self.in_flight = self.max_concurrent = 0
        self.requests_by_kind: collections.Counter[str] = collections.Counter()
        self.operations_by_kind: collections.Counter[str] = collections.Counter()
        self.calls: list[tuple[str, int]] = []
        self.failures: list[str] = []
        self.routes: list[tuple[str, re.Pattern[str], str, Handler]] = [
            (method, re.compile(f"^{pattern}$"), kind, handler) for method, pattern, kind, handler in [
                ("GET", "/?", "GET /", lambda g, q, b: (200, self._root())),
                ("GET", "/ping", "GET /ping", lambda g, q, b: (200, {"health_status": "Everything's Chimpy!"})),
                ("GET", "/lists/(?P<list>[^/]+)", "GET /lists/{id}", lambda g, q, b: self._get_list(g["list"])),
                ("POST", "/lists/(?P<list>[^/]+)", "POST /lists/{id}",
                 lambda g, q, b: self.batch_subscribe(g["list"], _obj(b))),
                ("GET", "/lists/(?P<list>[^/]+)/merge-fields", "GET /lists/{id}/merge-fields",
                 lambda g, q, b: self._merge_fields(g["list"], q)),
                ("POST", "/lists/(?P<list>[^/]+)/merge-fields", "POST /lists/{id}/merge-fields",
                 lambda g, q, b: self._create_merge_field(g["list"], _obj(b))),
                ("GET", "/lists/(?P<list>[^/]+)/members", "GET /lists/{id}/members",
                 lambda g, q, b: self.list_members(g["list"], q)),
                ("GET", "/lists/(?P<list>[^/]+)/members/(?P<m>[^/]+)", "GET /lists/{id}/members/{hash}",
                 lambda g, q, b: self.get_member(g["list"], g["m"])),
                ("PATCH", "/lists/(?P<list>[^/]+)/members/(?P<m>[^/]+)", "PATCH /lists/{id}/members/{hash}",
                 lambda g, q, b: self.patch_member(g["list"], g["m"], _obj(b))),
                ("PUT", "/lists/(?P<list>[^/]+)/members/(?P<m>[^/]+)", "PUT /lists/{id}/members/{hash}",
                 lambda g, q, b: self.put_member(g["list"], g["m"], _obj(b))),
                ("DELETE", "/lists/(?P<list>[^/]+)/members/(?P<m>[^/]+)", "DELETE /lists/{id}/members/{hash}",
                 lambda g, q, b: self.archive_member(g["list"], g["m"])),
                ("GET", "/lists/(?P<list>[^/]+)/members/(?P<m>[^/]+)/tags", "GET /lists/{id}/members/{hash}/tags",
                 lambda g, q, b: self.get_tags(g["list"], g["m"])),
                ("POST", "/lists/(?P<list>[^/]+)/members/(?P<m>[^/]+)/tags", "POST /lists/{id}/members/{hash}/tags",
                 lambda g, q, b: self.update_tags(g["list"], g["m"], _obj(b))),
                ("POST", "/batches", "POST /batches", lambda g, q, b: self._start_batch(b)),
                ("GET", "/batches", "GET /batches", lambda g, q, b: self._list_batches()),
                ("GET", "/batches/(?P<id>[^/]+)", "GET /batches/{id}", lambda g, q, b: self._poll(g["id"])),
                ("DELETE", "/batches/(?P<id>[^/]+)", "DELETE /batches/{id}", lambda g, q, b: self._delete(g["id"])),
            ]]
        self._by_method: dict[str, list[tuple[re.Pattern[str], str, Handler]]] = {}
        for method, pattern, kind, handler in self.routes:
            self._by_method.setdefault(method, []).append((pattern, kind, handler))
        self.server = loopback_server(self)

    # -- lifecycle -------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def api_url(self) -> str:
        return self.base_url + "/3.0"

    def start(self) -> FakeMailchimp:
        self.server.start()
        return self

    def close(self, *, check: bool = True) -> None:
        """Stops the server, then fails if the fake met a request it could not handle."""
        self.server.close()
        if check and self.failures:
            raise AssertionError("fake_mailchimp failed on a request:\n" + "\n".join(self.failures))

    def __enter__(self) -> FakeMailchimp:
        return self.start()

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.close(check=exc_type is None)

    # -- faults and batch control ----------------------------------------------------------------
    def fail_next(self, status: int = 503, count: int = 1, empty_body: bool = False, kind: str | None = None) -> None:
        """The next `count` requests (of requests_by_kind key `kind`, if given) get `status`: a
        problem+json (429 "Too Many Requests", ...) or, with empty_body, no body at all."""
        with self.lock:
            self._faults.extend(_Fault(status, empty_body, kind) for _ in range(count))

    def finish_batches(self) -> None:
        """Finishes (applies) every unfinished batch now, as if polled to the end."""
        with self.lock:
            for batch in self.batches.values():
                if not batch.finished:
                    self._finish(batch)

    @property
    def pending_batches(self) -> int:
        with self.lock:
            return sum(not b.finished for b in self.batches.values())

    def failed(self, what: str) -> None:
        with self.lock:
            self.failures.append(what)

    # -- HTTP ------------------------------------------------------------------------------------
    def handle(self, request: Request) -> Reply:
        with self._flight:
            self.in_flight += 1
            self.max_concurrent = max(self.max_concurrent, self.in_flight)
        try:  # the count drops before the reply is written: a client cannot overlap its next request
            if self.latency:
                time.sleep(self.latency)
            return self._handle(request)
        finally:
            with self._flight:
                self.in_flight -= 1

    def _handle(self, request: Request) -> Reply:
        split = urlsplit(request.target)
        path, method = unquote(split.path), request.method
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        archive = re.fullmatch(r"/archives/([^/]+)\.tar\.gz", path)
        route = None
        if archive:
            kind = "GET archive"
        elif path.startswith("/3.0/") or path == "/3.0":
            route = self._route(method, path[4:])
            kind = route[0] if route else f"{method} {path[4:]}"
        else:
            kind = f"{method} {path}"
        with self.lock:
            self.requests += 1
            self.requests_by_kind[kind] += 1
            self.write_requests += method in WRITE_METHODS
            fault = next((f for f in self._faults if f.kind in (None, kind)), None)
            if fault is not None:
                self._faults.remove(fault)
                self.injected_failures += 1
        if fault is not None:
            return self._log(kind, Reply(fault.status, b"", "text/html; charset=UTF-8") if fault.empty_body
                             else self._problem(Problem(fault.status)))
        if archive:
            return self._log(kind, self._archive(archive.group(1), query, request))
        if not self._authorized(request.headers.get("Authorization")):
            with self.lock:
                self.unauthorized += 1
            missing = not request.headers.get("Authorization")
            return self._log(kind, self._problem(Problem(
                401, "API Key Missing" if missing else "API Key Invalid",
                "Your request did not include an API key." if missing else
                "Your API key may be invalid, or you've attempted to access the wrong datacenter.")))
        if route is None:
            self.failed(f"unsupported request: {method} {request.target}")
            return self._log(kind, self._problem(Problem(404)))
        try:
            body = json.loads(request.body) if request.body.strip() else None
        except ValueError:
            return self._log(kind, self._problem(Problem(400, "JSON Parse Exception",
                                                         "We encountered an unspecified JSON parsing error.")))
        try:
            with self.lock:
                status, data = route[1](route[2], query, body)
        except Problem as p:
            return self._log(kind, self._problem(p))
        if status == 204:
            return self._log(kind, Reply(204, b"", "application/json; charset=utf-8"))
        if method == "GET":
            data = project(data, query.get("fields"), query.get("exclude_fields"))
        return self._log(kind, Reply(status, json.dumps(data).encode(), "application/json; charset=utf-8"))

    def _route(self, method: str, path: str) -> tuple[str, Handler, dict[str, str]] | None:
        for pattern, kind, handler in self._by_method.get(method, ()):
            match = pattern.match(path)
            if match:
                return kind, handler, match.groupdict()
        return None

    def _authorized(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            _, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return secrets.compare_digest(password, self.api_key)

    def _problem(self, p: Problem) -> Reply:
        return Reply(p.status, json.dumps(p.body(str(uuid.uuid4()))).encode(), PROBLEM)

    def _log(self, kind: str, reply: Reply) -> Reply:
        with self.lock:
            self.calls.append((kind, reply.status))
        return reply

    # -- lists and merge fields -----------------------------------------------------------------
    def _root(self) -> dict[str, Any]:
        total = sum(len(a.members) for a in self.audiences.values())
        return {"account_id": "fakeaccount", "login_id": "1", "account_name": "Fake Account",
                "email": "owner@example.com", "role": "owner", "total_subscribers": total}

    def _get_list(self, list_id: str) -> tuple[int, Any]:
        a = self.audience(list_id)
        counts = collections.Counter(m.status for m in a.members.values())
        return 200, {"id": a.id, "web_id": 1, "name": a.name, "list_rating": 0, "date_created": "2024-01-01T00:00:00",
                     "stats": {"member_count": counts["subscribed"], "unsubscribe_count": counts["unsubscribed"],
                               "cleaned_count": counts["cleaned"], "total_contacts": len(a.members),
                               "member_count_since_send": 0, "merge_field_count": len(a.merge_fields)}}

    def _merge_fields(self, list_id: str, query: dict[str, str]) -> tuple[int, Any]:
        a = self.audience(list_id)
        count, offset = min(int(query.get("count", 10)), 1000), int(query.get("offset", 0))
        return 200, {"merge_fields": [dict(f) for f in a.merge_fields[offset:offset + count]], "list_id": a.id,
                     "total_items": len(a.merge_fields)}

    def _create_merge_field(self, list_id: str, body: dict[str, Any]) -> tuple[int, Any]:
        a = self.audience(list_id)
        errors = [{"field": k, "message": "This value should not be blank."}
                  for k in ("name", "type") if not isinstance(body.get(k), str) or not body[k]]
        if not errors and body["type"] not in MERGE_TYPES:
            errors.append({"field": "type", "message": "Value must be one of: " + ", ".join(MERGE_TYPES)})
        if errors:
            raise invalid(errors)
        tag = str(body.get("tag") or f"MMERGE{a.next_merge_id}").upper()
        if tag in a.field_by_tag():
            raise Problem(400, "Invalid Resource",
                          f"A Merge Field with the tag \"{tag}\" already exists for this list.")
        extra = {k: v for k, v in body.items() if k in ("required", "default_value", "public", "display_order",
                                                         "options", "help_text")}
        self.merge_field_creations += 1
        return 200, self.add_merge_field(list_id, tag, body["name"], body["type"], **extra)

    # -- batches ---------------------------------------------------------------------------------
    def _start_batch(self, body: Any) -> tuple[int, Any]:
        operations = parse_operations(body)
        if self.pending_batches >= self.max_pending_batches:
            self.batches_rejected += 1
            raise Problem(429, "Too Many Requests", f"You have more than {self.max_pending_batches} pending batches. "
                          "Please wait for some of them to finish before making more.")
        batch = Batch(secrets.token_hex(5), operations, now_iso(), secrets.token_hex(32),
                      status=self.batch_states[0] if self.batch_states else "pending")
        self.batches[batch.id] = batch
        self.batches_started += 1
        return 200, batch.resource()

    def _poll(self, batch_id: str) -> tuple[int, Any]:
        batch = self.batches.get(batch_id)
        if batch is None:
            raise Problem(404)
        self.batch_polls += 1
        if not batch.finished:
            batch.polls += 1
            step = (batch.polls - 1) // self.polls_per_state if self.polls_per_state > 0 else len(self.batch_states)
            if step >= len(self.batch_states):
                self._finish(batch)
            else:
                batch.status = self.batch_states[step]
        return 200, batch.resource()

    def _finish(self, batch: Batch) -> None:
        for op in batch.operations:
            batch.results.append(self._apply(op))
        batch.status, batch.completed_at = "finished", now_iso()
        batch.archive = build_archive(batch.id, batch.results, self.results_per_file)
        batch.response_body_url = (f"{self.base_url}/archives/{batch.id}.tar.gz?X-Amz-Algorithm=AWS4-HMAC-SHA256"
                                   f"&X-Amz-Expires=600&X-Amz-Signature={batch.signature}")

    def _apply(self, op: Operation) -> dict[str, Any]:
        route = self._route(op.method, op.path.partition("?")[0])
        kind = route[0] if route else f"{op.method} {op.path}"
        self.operations_applied += 1
        self.operations_by_kind[kind] += 1
        try:
            if route is None or route[0].endswith(("/batches", "/batches/{id}")):
                self.failed(f"unsupported batch operation: {op.method} {op.path}")
                raise Problem(404)
            try:
                body = json.loads(op.body) if op.body else None
            except ValueError as err:
                raise Problem(400, "JSON Parse Exception", "We encountered an unspecified JSON parsing error.") from err
            status, data = route[1](route[2], {k: str(v) for k, v in op.params.items()}, body)
            return result(op, status, data, None, "")
        except Problem as p:
            return result(op, p.status, None, p, str(uuid.uuid4()))

    def _list_batches(self) -> tuple[int, Any]:
        return 200, {"batches": [b.resource() for b in self.batches.values()], "total_items": len(self.batches)}

    def _delete(self, batch_id: str) -> tuple[int, Any]:
        if self.batches.pop(batch_id, None) is None:
            raise Problem(404)
        return 204, None

    def _archive(self, batch_id: str, query: dict[str, str], request: Request) -> Reply:
        with self.lock:
            batch = self.batches.get(batch_id)
            if self.archive_rejects_auth and request.headers.get("Authorization"):
                return Reply(400, S3_TWO_AUTHS, "application/xml")
            if batch is None or not batch.finished or query.get("X-Amz-Signature") != batch.signature:
                return Reply(403, S3_DENIED, "application/xml")
            self.archive_downloads += 1
            return Reply(200, batch.archive, "application/x-gzip")


def _obj(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise invalid([{"field": "", "message": "Schema describes object, "
                        f"{'null' if body is None else type(body).__name__} found instead"}])
    return body
