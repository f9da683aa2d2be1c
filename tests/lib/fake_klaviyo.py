"""A loopback fake of Klaviyo's API where the sink depends on it (docs/platforms.md §5), on the kit.

    with FakeKlaviyo() as klaviyo:                    # key "pk_fake", revision 2026-10-15 or later
        pid = klaviyo.add_profile("ada@example.com")
        ... the sink with base_url=klaviyo.base_url ...
        assert klaviyo.profiles[pid].properties["rfm_segment"] == "Champions"

Strict where Klaviyo is: `revision` and `Authorization: Klaviyo-API-Key ...` on every call
(400 / 401 otherwise), JSON:API content type on bodies (415), `page[size]` <= 100, at most 100
values in `any(email, [...])`, at most 1,000 profile ids per list call, 10,000 profiles per bulk
import; each endpoint class under its burst (1 s) and steady (60 s) limit, else 429 with an
integer Retry-After and a JSON:API `throttled` error (`throttled` counts them). Bulk import jobs
go queued -> processing -> complete over `polls_per_job` polls, an invalid email being an import
error (with its payload) and, like Klaviyo, a profile created for an unknown email. The endpoints
that change consent (subscribe, unsubscribe, suppress) answer but are counted in `consent_calls`;
a profile's `subscriptions` never change otherwise.
"""

from __future__ import annotations

import collections
import itertools
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from rfmsync.testing.fakes import FakePlatform, Reply, Request, json_reply

KEY = "pk_fake"
MEDIA = "application/vnd.api+json"
# (limit, seconds) per endpoint class (§5.2): profile reads and writes L, jobs and lists M.
LIMITS = {"profiles": ((75, 1.0), (750, 60.0)), "jobs": ((10, 1.0), (150, 60.0)), "lists": ((10, 1.0), (150, 60.0))}
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass
class Profile:
    id: str
    email: str
    properties: dict[str, Any] = field(default_factory=dict)
    subscriptions: str = "SUBSCRIBED"


@dataclass
class KList:
    id: str
    name: str
    members: set[str] = field(default_factory=set)


@dataclass
class Job:
    id: str
    profiles: list[dict[str, Any]]
    lists: list[str]
    polls: int = 0
    status: str = "queued"
    errors: list[dict[str, Any]] = field(default_factory=list)


class KlaviyoError(Exception):
    def __init__(self, status: int, code: str, title: str) -> None:
        super().__init__(title)
        self.status, self.code, self.title = status, code, title


class FakeKlaviyo(FakePlatform):
    name = "fake_klaviyo"

    def __init__(self, *, polls_per_job: int = 2, limits: dict[str, tuple[tuple[int, float], ...]] | None = None,
                 lists_per_day: int = 150) -> None:
        super().__init__()
        self.polls_per_job, self.limits, self.lists_left = polls_per_job, limits or LIMITS, lists_per_day
        self.profiles: dict[str, Profile] = {}
        self._by_email: dict[str, str] = {}  # email -> profile id (kept as profiles are added)
        self.lists: dict[str, KList] = {}
        self.jobs: dict[str, Job] = {}
        self.created_profiles = self.consent_calls = self.throttled = 0
        self._ids = itertools.count(1)
        self._seen: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)
        def r(method: str, pattern: str, kind: str, handler: Any) -> None:
            self.route(method, pattern, kind, self._guarded(handler))

        r("GET", "/api/profiles/?", "profiles", self._find)
        r("PATCH", "/api/profiles/(?P<id>[^/]+)/?", "profiles", self._patch)
        r("POST", "/api/profile-bulk-import-jobs/?", "jobs", self._import)
        r("GET", "/api/profile-bulk-import-jobs/(?P<id>[^/]+)/?", "jobs", self._job)
        r("GET", "/api/profile-bulk-import-jobs/(?P<id>[^/]+)/import-errors/?", "jobs", self._errors)
        r("POST", "/api/lists/(?P<id>[^/]+)/relationships/profiles/?", "lists", lambda q, g: self._members(q, g, True))
        r("DELETE", "/api/lists/(?P<id>[^/]+)/relationships/profiles/?", "lists",
          lambda q, g: self._members(q, g, False))
        r("GET", "/api/lists/?", "lists", self._find_lists)
        r("POST", "/api/lists/?", "lists", self._create_list)
        for path in ("profile-subscription-bulk-create-jobs", "profile-subscription-bulk-delete-jobs",
                     "profile-suppression-bulk-create-jobs", "profile-suppression-bulk-delete-jobs"):
            r("POST", f"/api/{path}/?", "consent", self._consent)

    # -- helpers for tests -------------------------------------------------------------------------
    def add_profile(self, email: str, **properties: Any) -> str:
        with self.lock:
            profile = Profile(f"01P{next(self._ids):06d}", email.lower(), dict(properties))
            self._keep(profile)
            return profile.id

    def _keep(self, profile: Profile) -> None:
        self.profiles[profile.id] = profile
        self._by_email[profile.email] = profile.id

    def add_list(self, name: str) -> str:
        with self.lock:
            klist = KList(f"L{next(self._ids):05d}", name)
            self.lists[klist.id] = klist
            return klist.id

    def by_email(self, email: str) -> Profile:
        return self.profiles[self._by_email[email.lower()]]

    def snapshot(self) -> Any:
        with self.lock:
            return ({p.id: (p.email, json.dumps(p.properties, sort_keys=True), p.subscriptions)
                     for p in self.profiles.values()}, {k.id: frozenset(k.members) for k in self.lists.values()})

    # -- the kit -----------------------------------------------------------------------------------
    def authorize(self, request: Request, kind: str) -> Reply | None:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}(\.\w+)?", request.headers.get("revision", "")):
            return _error(KlaviyoError(400, "invalid", "A revision header is required (YYYY-MM-DD)."))
        if request.headers.get("Authorization") != f"Klaviyo-API-Key {KEY}":
            return _error(KlaviyoError(401, "not_authenticated", "Incorrect authentication credentials."))
        if request.body and MEDIA not in request.headers.get("Content-Type", ""):
            return _error(KlaviyoError(415, "unsupported_media_type", f"Content-Type must be {MEDIA}"))
        return self._rate(kind)

    def _rate(self, kind: str) -> Reply | None:
        now = time.monotonic()
        seen = self._seen[kind]
        windows = self.limits.get(kind, ())
        longest = max((s for _, s in windows), default=0.0)
        while seen and seen[0] <= now - longest:
            seen.popleft()
        for limit, seconds in windows:
            inside = [t for t in seen if t > now - seconds]
            if len(inside) >= limit:
                self.throttled += 1
                wait = max(1, int(inside[-limit] + seconds - now + 0.999))
                reply = _error(KlaviyoError(429, "throttled", f"Request was throttled. Expected available in "
                                            f"{wait} seconds."))
                reply.headers["Retry-After"] = str(wait)
                return reply
        seen.append(now)
        return None

    def error_reply(self, status: int, retry_after: float | None = None) -> Reply:
        reply = _error(KlaviyoError(status, "throttled" if status == 429 else "error", "Error"))
        if retry_after is not None:
            reply.headers["Retry-After"] = f"{retry_after:g}"
        return reply

    @staticmethod
    def _guarded(handler: Any) -> Any:
        def run(request: Request, groups: dict[str, str]) -> Reply:
            try:
                return handler(request, groups)  # type: ignore[no-any-return]
            except KlaviyoError as exc:
                return _error(exc)
        return run

    # -- routes ------------------------------------------------------------------------------------
    def _find(self, request: Request, groups: dict[str, str]) -> Reply:
        query = request.query
        size = int(query.get("page[size]", "20"))
        if not 1 <= size <= 100:
            raise KlaviyoError(400, "invalid", "page[size] must be 1 to 100")
        found = re.fullmatch(r'any\(email,\[(.*)\]\)', query.get("filter", ""))
        if found is None:
            raise KlaviyoError(400, "invalid", "filter: expected any(email,[...])")
        emails = [e.lower() for e in json.loads(f"[{found.group(1)}]")]
        if len(emails) > 100:
            raise KlaviyoError(400, "invalid", "any() takes at most 100 values")
        matched = [self.profiles[self._by_email[e]] for e in dict.fromkeys(emails) if e in self._by_email]
        start = int(query.get("page[cursor]", "0") or 0)
        page = matched[start:start + size]
        more = start + size < len(matched)
        return json_reply(200, {"data": [{"type": "profile", "id": p.id, "attributes": {"email": p.email}}
                                         for p in page],
                                "links": {"next": f"{self.base_url}/api/profiles/?page[cursor]={start + size}&"
                                                  f"filter={query['filter']}&page[size]={size}" if more else None}})

    def _patch(self, request: Request, groups: dict[str, str]) -> Reply:
        profile = self.profiles.get(groups["id"])
        if profile is None:
            raise KlaviyoError(404, "not_found", "A profile with this id does not exist.")
        data = (request.json() or {}).get("data") or {}
        if data.get("type") != "profile" or data.get("id") != profile.id or "attributes" not in data:
            raise KlaviyoError(400, "invalid", "data.type, data.id and data.attributes are required")
        attributes = data["attributes"]
        if "subscriptions" in attributes:
            raise KlaviyoError(400, "invalid", "subscriptions cannot be changed here")
        for name, value in (attributes.get("properties") or {}).items():
            if value is None:
                profile.properties.pop(name, None)
            else:
                profile.properties[name] = value
        for name in ((data.get("meta") or {}).get("patch_properties") or {}).get("unset") or []:
            profile.properties.pop(name, None)
        return json_reply(200, {"data": {"type": "profile", "id": profile.id, "attributes": {"email": profile.email}}})

    def _import(self, request: Request, groups: dict[str, str]) -> Reply:
        if len(request.body) > 5_000_000:
            raise KlaviyoError(413, "payload_too_large", "at most 5 MB")
        data = (request.json() or {}).get("data") or {}
        if data.get("type") != "profile-bulk-import-job":
            raise KlaviyoError(400, "invalid", "data.type must be profile-bulk-import-job")
        profiles = (((data.get("attributes") or {}).get("profiles") or {}).get("data")) or []
        if not 1 <= len(profiles) <= 10_000:
            raise KlaviyoError(400, "invalid", "1 to 10,000 profiles per job")
        lists = [item["id"] for item in ((data.get("relationships") or {}).get("lists") or {}).get("data") or []]
        job = Job(f"J{next(self._ids):05d}", profiles, lists)
        self.jobs[job.id] = job
        return json_reply(202, {"data": self._job_body(job)})

    def _job_body(self, job: Job) -> dict[str, Any]:
        done = job.status == "complete"
        return {"type": "profile-bulk-import-job", "id": job.id,
                "attributes": {"status": job.status, "total_count": len(job.profiles),
                               "completed_count": len(job.profiles) - len(job.errors) if done else 0,
                               "failed_count": len(job.errors) if done else 0}}

    def _job(self, request: Request, groups: dict[str, str]) -> Reply:
        job = self.jobs.get(groups["id"])
        if job is None:
            raise KlaviyoError(404, "not_found", "No such job")
        job.polls += 1
        if job.status != "complete":
            job.status = "processing"
            if job.polls >= self.polls_per_job:
                self._apply(job)
        return json_reply(200, {"data": self._job_body(job)})

    def _apply(self, job: Job) -> None:
        for index, item in enumerate(job.profiles):
            attributes = item.get("attributes") or {}
            email = str(attributes.get("email") or "").strip().lower()
            if item.get("type") != "profile" or not _EMAIL.fullmatch(email) or "subscriptions" in attributes:
                job.errors.append({"type": "import-error", "id": f"E{index}", "attributes": {
                    "code": "invalid", "title": "Invalid email address", "detail": f"{email!r} is not valid",
                    "source": {"pointer": f"/data/attributes/profiles/data/{index}"}, "original_payload": item}})
                continue
            if email in self._by_email:
                profile = self.profiles[self._by_email[email]]
            else:
                profile = Profile(f"01P{next(self._ids):06d}", email, subscriptions="NEVER_SUBSCRIBED")
                self._keep(profile)
                self.created_profiles += 1
            for name, value in (attributes.get("properties") or {}).items():
                if value is not None:  # bulk import never clears (§5.2)
                    profile.properties[name] = value
            for list_id in job.lists:
                self.lists[list_id].members.add(profile.id)
        job.status = "complete"

    def _errors(self, request: Request, groups: dict[str, str]) -> Reply:
        job = self.jobs.get(groups["id"])
        if job is None:
            raise KlaviyoError(404, "not_found", "No such job")
        size = int(request.query.get("page[size]", "20"))
        if not 1 <= size <= 100:
            raise KlaviyoError(400, "invalid", "page[size] must be 1 to 100")
        start = int(request.query.get("page[cursor]", "0") or 0)
        more = start + size < len(job.errors)
        return json_reply(200, {"data": job.errors[start:start + size], "links": {
            "next": f"{self.base_url}/api/profile-bulk-import-jobs/{job.id}/import-errors/?page[size]={size}"
                    f"&page[cursor]={start + size}" if more else None}})

    def _members(self, request: Request, groups: dict[str, str], add: bool) -> Reply:
        klist = self.lists.get(groups["id"])
        if klist is None:
            raise KlaviyoError(404, "not_found", "A list with this id does not exist.")
        data = (request.json() or {}).get("data")
        if not isinstance(data, list) or not 1 <= len(data) <= 1000:
            raise KlaviyoError(400, "invalid", "1 to 1,000 profiles per request")
        ids = [item.get("id") for item in data if isinstance(item, dict) and item.get("type") == "profile"]
        if len(ids) != len(data) or any(i not in self.profiles for i in ids):
            raise KlaviyoError(400, "invalid", "unknown profile id")
        if add:
            klist.members.update(ids)
        else:
            klist.members.difference_update(ids)
        return Reply(204)

    def _find_lists(self, request: Request, groups: dict[str, str]) -> Reply:
        found = re.fullmatch(r'equals\(name,"(.*)"\)', request.query.get("filter", ""))
        lists = [k for k in self.lists.values() if found is None or k.name == found.group(1)]
        return json_reply(200, {"data": [{"type": "list", "id": k.id, "attributes": {"name": k.name}}
                                         for k in lists], "links": {"next": None}})

    def _create_list(self, request: Request, groups: dict[str, str]) -> Reply:
        if self.lists_left <= 0:
            raise KlaviyoError(429, "throttled", "Daily limit of list creation reached")
        name = ((request.json() or {}).get("data") or {}).get("attributes", {}).get("name")
        if not name:
            raise KlaviyoError(400, "invalid", "name is required")
        self.lists_left -= 1
        klist = KList(f"L{next(self._ids):05d}", str(name))
        self.lists[klist.id] = klist
        return json_reply(201, {"data": {"type": "list", "id": klist.id, "attributes": {"name": klist.name}}})

    def _consent(self, request: Request, groups: dict[str, str]) -> Reply:
        self.consent_calls += 1
        return json_reply(202, {"data": {"type": "job", "id": "consent"}})


def _error(exc: KlaviyoError) -> Reply:
    return Reply(exc.status, json.dumps({"errors": [{"id": "e1", "status": exc.status, "code": exc.code,
                                                     "title": exc.title, "detail": str(exc),
                                                     "source": {"pointer": "/data"}}]}).encode(), MEDIA)
