"""A loopback fake of the Mailchimp Marketing API v3 (docs/platforms.md §4), for the Mailchimp sink's tests.

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
import uuid
from collections.abc import Callable
from typing import Any

from fake_mailchimp_batch import Batch, Operation, build_archive, parse_operations, result
from fake_mailchimp_data import MERGE_TYPES, Problem, invalid, now_iso, project
from fake_mailchimp_members import MemberOps
from rfmsync.testing.fakes import Body, FakePlatform, Handler, Reply, Request

PROBLEM = "application/problem+json"
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
S3_TWO_AUTHS = (b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InvalidArgument</Code><Message>Only one "
                b"auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string "
                b"parameter or the Authorization header should be specified</Message></Error>")
S3_DENIED = (b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied"
             b"</Message></Error>")
Route = Callable[[dict[str, str], dict[str, str], Any], tuple[int, Any]]  # (path groups, query, body)


class FakeMailchimp(MemberOps, FakePlatform):
    name = "fake_mailchimp"

    def __init__(self, *, api_key: str = "fakekey-us21", polls_per_state: int = 1,
                 batch_states: tuple[str, ...] = ("pending", "started"), results_per_file: int = 100,
                 max_pending_batches: int = 500, latency: float = 0.0, archive_rejects_auth: bool = True) -> None:
        FakePlatform.__init__(self, latency=latency)
        MemberOps.__init__(self)  # its lock replaces the kit's: one RLock for state and counters
        self.api_key, self.polls_per_state, self.batch_states = api_key, polls_per_state, batch_states
        self.results_per_file, self.max_pending_batches = results_per_file, max_pending_batches
        self.archive_rejects_auth = archive_rejects_auth
        self.batches: dict[str, Batch] = {}
        self.operations_applied = self.merge_field_creations = 0
        self.batches_started = self.batches_rejected = self.batch_polls = self.archive_downloads = 0
        self.unauthorized = 0
        self.operations_by_kind: collections.Counter[str] = collections.Counter()
        self._operations: dict[str, Route] = {}
        member, tags = "/lists/(?P<list>[^/]+)/members/(?P<m>[^/]+)", "/lists/(?P<list>[^/]+)/members/(?P<m>[^/]+)/tags"
        for method, pattern, kind, route in [
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
                ("GET", member, "GET /lists/{id}/members/{hash}", lambda g, q, b: self.get_member(g["list"], g["m"])),
                ("PATCH", member, "PATCH /lists/{id}/members/{hash}",
                 lambda g, q, b: self.patch_member(g["list"], g["m"], _obj(b))),
                ("PUT", member, "PUT /lists/{id}/members/{hash}",
                 lambda g, q, b: self.put_member(g["list"], g["m"], _obj(b))),
                ("DELETE", member, "DELETE /lists/{id}/members/{hash}",
                 lambda g, q, b: self.archive_member(g["list"], g["m"])),
                ("GET", tags, "GET /lists/{id}/members/{hash}/tags", lambda g, q, b: self.get_tags(g["list"], g["m"])),
                ("POST", tags, "POST /lists/{id}/members/{hash}/tags",
                 lambda g, q, b: self.update_tags(g["list"], g["m"], _obj(b))),
                ("POST", "/batches", "POST /batches", lambda g, q, b: self._start_batch(b)),
                ("GET", "/batches", "GET /batches", lambda g, q, b: self._list_batches()),
                ("GET", "/batches/(?P<id>[^/]+)", "GET /batches/{id}", lambda g, q, b: self._poll(g["id"])),
                ("DELETE", "/batches/(?P<id>[^/]+)", "DELETE /batches/{id}", lambda g, q, b: self._delete(g["id"]))]:
            self.route(method, pattern, kind, self._api(route))
            self._operations[kind] = route

    # -- the kit's counters under the names the tests use ----------------------------------------
    @property
    def api_url(self) -> str:
        return self.base_url + "/3.0"

    @property
    def requests(self) -> int:
        return self.received

    @property
    def requests_by_kind(self) -> collections.Counter[str]:
        return self.received_by_kind

    @property
    def write_requests(self) -> int:
        return self.writes

    @property
    def injected_failures(self) -> int:
        return self.faults.injected

    @property
    def calls(self) -> list[tuple[str, int]]:
        return self.journal

    # -- faults and batch control ----------------------------------------------------------------
    def fail_next(self, status: int = 503, count: int = 1, empty_body: bool = False, kind: str | None = None, *,
                  retry_after: float | None = None, body: Body | None = None) -> None:
        """The next `count` requests (of requests_by_kind key `kind`, if given) get `status`: a
        problem+json (429 "Too Many Requests", ...) or, with empty_body, no body at all."""
        self.faults.add(status, count, body=body or ("empty" if empty_body else "platform"), retry_after=retry_after,
                        kind=kind)

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

    def snapshot(self) -> dict[str, dict[str, tuple[str, frozenset[str], tuple[tuple[str, str], ...]]]]:
        """List id -> email -> (status, tags, merge fields): everything a sink can change."""
        with self.lock:
            return {a.id: {m.email: (m.status, frozenset(m.tags), tuple(sorted(m.merge_fields.items())))
                           for m in a.members.values()} for a in self.audiences.values()}

    # -- HTTP ------------------------------------------------------------------------------------
    def resolve(self, request: Request) -> tuple[str, Handler | None, dict[str, str]]:
        path = request.path
        archive = re.fullmatch(r"/archives/([^/]+)\.tar\.gz", path)
        if archive:
            return "GET archive", lambda r, g: self._archive(g["id"], r.query, r), {"id": archive.group(1)}
        if path.startswith("/3.0/") or path == "/3.0":
            return self.match(request.method, path[4:])
        return f"{request.method} {path}", None, {}

    def authorize(self, request: Request, kind: str) -> Reply | None:
        if kind == "GET archive" or self._authorized(request.headers.get("Authorization")):
            return None  # a presigned storage URL: no API auth
        with self.lock:
            self.unauthorized += 1
        missing = not request.headers.get("Authorization")
        return self._problem(Problem(
            401, "API Key Missing" if missing else "API Key Invalid",
            "Your request did not include an API key." if missing else
            "Your API key may be invalid, or you've attempted to access the wrong datacenter."))

    def error_reply(self, status: int, retry_after: float | None = None) -> Reply:
        reply = self._problem(Problem(status))
        if retry_after is not None:
            reply.headers["Retry-After"] = f"{retry_after:g}"
        return reply

    def _api(self, route: Route) -> Handler:
        def handle(request: Request, groups: dict[str, str]) -> Reply:
            query = request.query
            try:
                body = request.json()
            except ValueError:
                return self._problem(Problem(400, "JSON Parse Exception",
                                             "We encountered an unspecified JSON parsing error."))
            try:
                status, data = route(groups, query, body)
            except Problem as p:
                return self._problem(p)
            if status == 204:
                return Reply(204, b"", "application/json; charset=utf-8")
            if request.method == "GET":
                data = project(data, query.get("fields"), query.get("exclude_fields"))
            return Reply(status, json.dumps(data).encode(), "application/json; charset=utf-8")
        return handle

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
        kind, _, groups = self.match(op.method, op.path.partition("?")[0])
        operation = self._operations.get(kind)
        self.operations_applied += 1
        self.operations_by_kind[kind] += 1
        try:
            if operation is None or kind.endswith(("/batches", "/batches/{id}")):
                self.failed(f"unsupported batch operation: {op.method} {op.path}")
                raise Problem(404)
            try:
                body = json.loads(op.body) if op.body else None
            except ValueError as err:
                raise Problem(400, "JSON Parse Exception", "We encountered an unspecified JSON parsing error.") from err
            status, data = operation(groups, {k: str(v) for k, v in op.params.items()}, body)
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
