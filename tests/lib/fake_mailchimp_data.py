"""State of fake_mailchimp: audiences, members, merge field definitions, tags, the Problem error
type, the recordings (status_changes, ...) and the helpers tests call (add_list, add_member, ...).
The member operations live in fake_mailchimp_members.py."""

from __future__ import annotations

import hashlib
import random
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rfmsync.core.clock import utc_now

ERROR_DOC = "https://mailchimp.com/developer/marketing/docs/errors/"
STATUSES = ("subscribed", "unsubscribed", "cleaned", "pending", "transactional", "archived")
SETTABLE = STATUSES[:5]  # `archived` is the result of an archive call, not a status a body can set
MERGE_TYPES = ("text", "number", "address", "phone", "date", "url", "imageurl", "radio", "dropdown", "birthday",
               "zip")
VALIDATION = "The resource submitted could not be validated. For field-specific details, see the 'errors' array."
NOT_FOUND = "The requested resource could not be found."
SIGNUPS = "{email} has signed up to a lot of lists very recently; we're not allowing more signups for now"
COMPLIANCE = ("{email} is already a list member in compliance state due to unsubscribe, bounce, or compliance "
              "review and cannot be subscribed.")
TITLES = {400: "Bad Request", 401: "API Key Invalid", 403: "Forbidden", 404: "Resource Not Found",
          405: "Method Not Allowed", 414: "Resource Nesting Too Deep", 422: "Invalid Method Override",
          429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
          504: "Gateway Timeout"}
DETAILS = {429: "You have exceeded the limit of 10 simultaneous connections.",
           500: "An unexpected internal error has occurred. Please contact Support for more information.",
           503: "This service is temporarily unavailable. Please try again later."}


class Problem(Exception):
    """An RFC 7807 error as Mailchimp sends it (Content-Type application/problem+json)."""

    def __init__(self, status: int, title: str | None = None, detail: str | None = None,
                 errors: list[dict[str, str]] | None = None) -> None:
        self.status, self.title = status, title or TITLES.get(status, "Error")
        self.detail = detail if detail is not None else DETAILS.get(status, NOT_FOUND if status == 404 else "")
        self.errors = errors
        super().__init__(f"{status} {self.title}: {self.detail}")

    def body(self, instance: str) -> dict[str, Any]:
        out: dict[str, Any] = {"type": ERROR_DOC, "title": self.title, "status": self.status,
                               "detail": self.detail, "instance": instance}
        if self.errors is not None:
            out["errors"] = self.errors
        return out


def invalid(errors: list[dict[str, str]] | None = None, detail: str = VALIDATION) -> Problem:
    return Problem(400, "Invalid Resource", detail, errors)


def subscriber_hash(email: str) -> str:
    return hashlib.md5(email.lower().encode()).hexdigest()


def member_key(slot: str) -> str:
    """The {subscriber_hash} path slot: Mailchimp also takes the raw email there."""
    return subscriber_hash(slot) if "@" in slot else slot.lower()


def now_iso() -> str:
    return utc_now().replace(microsecond=0).isoformat()


@dataclass(slots=True)
class Member:
    email: str
    status: str
    tags: set[str]
    merge_fields: dict[str, Any]
    web_id: int
    last_changed: str = ""


@dataclass
class Audience:
    id: str
    name: str
    members: dict[str, Member] = field(default_factory=dict)
    merge_fields: list[dict[str, Any]] = field(default_factory=list)
    tag_ids: dict[str, int] = field(default_factory=dict)
    next_merge_id: int = 1

    def field_by_tag(self) -> dict[str, dict[str, Any]]:
        return {f["tag"]: f for f in self.merge_fields}


class MailchimpState:
    """The data half of FakeMailchimp. Helpers (add_list, add_member, set_status, ...) never count as
    requests and never land in status_changes."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.audiences: dict[str, Audience] = {}
        self._member_failures: dict[str, tuple[Problem, int | None]] = {}  # hash -> (problem, remaining)
        self._web_ids = 1000
        self.status_changes: list[tuple[str, str | None, str]] = []  # (email, old or None if created, new)
        self.consent_violations: list[tuple[str, str, str]] = []  # (email, current, refused new status)
        self.statuses_sent: list[tuple[str, str, str]] = []  # (email, method, value of a body's `status`)
        self.members_created: list[tuple[str, str]] = []  # (email, status) of members a request created
        self.member_failures_served = 0
        self.tag_updates = 0

    # -- helpers for tests --------------------------------------------------------------------------
    def add_list(self, list_id: str, name: str | None = None) -> Audience:
        with self.lock:
            if list_id not in self.audiences:
                a = Audience(list_id, name or f"Audience {list_id}")
                self.audiences[list_id] = a
                self.add_merge_field(list_id, "FNAME", "First Name")
                self.add_merge_field(list_id, "LNAME", "Last Name")
            return self.audiences[list_id]

    def add_merge_field(self, list_id: str, tag: str, name: str | None = None, type: str = "text",
                        **extra: Any) -> dict[str, Any]:
        with self.lock:
            a = self.audiences[list_id]
            definition = {"merge_id": a.next_merge_id, "tag": tag.upper(), "name": name or tag, "type": type,
                          "required": False, "default_value": "", "public": False,
                          "display_order": a.next_merge_id + 1, "options": {}, "help_text": "", "list_id": list_id,
                          **extra}
            a.next_merge_id += 1
            a.merge_fields.append(definition)
            return dict(definition)

    def merge_field_definitions(self, list_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(f) for f in self.audiences[list_id].merge_fields]

    def add_member(self, list_id: str, email: str, status: str = "subscribed", tags: Iterable[str] = (),
                   merge_fields: Mapping[str, Any] | None = None) -> dict[str, Any]:
        assert status in STATUSES, status
        with self.lock:
            a = self.audiences[list_id]
            self._web_ids += 1
            m = Member(email, status, set(tags), {k.upper(): v for k, v in (merge_fields or {}).items()},
                       self._web_ids, now_iso())
            a.members[subscriber_hash(email)] = m
            for t in m.tags:
                self._tag_id(a, t)
            return self.member(list_id, email)

    def generate_members(self, list_id: str, n: int, seed: int = 0, *, email_format: str = "customer{i}@example.com",
                         start: int = 1, mix: Mapping[str, float] | None = None, tag_pool: Sequence[str] = (),
                         ) -> list[str]:
        """n members with emails email_format.format(i=start..start+n-1) (default matches fake_shopify's
        customers), statuses drawn by `mix` (default 90 % subscribed, 5 % unsubscribed, 3 % cleaned,
        1 % pending, 1 % transactional), and when tag_pool is given one random tag from it for half of
        them. Deterministic for a seed; 100,000 take well under a second. Returns the emails."""
        weights = dict(mix or {"subscribed": 0.90, "unsubscribed": 0.05, "cleaned": 0.03, "pending": 0.01,
                               "transactional": 0.01})
        rng = random.Random(seed)
        names, cum = list(weights), []
        total = 0.0
        for s in names:
            total += weights[s]
            cum.append(total)
        md5, rand, fmt = hashlib.md5, rng.random, email_format.format
        emails: list[str] = []
        with self.lock:
            members = self.audiences[list_id].members
            stamp = now_iso()
            for i in range(start, start + n):
                email = fmt(i=i)
                r, k = rand() * total, 0
                while cum[k] < r:
                    k += 1
                tags = {tag_pool[int(rand() * len(tag_pool))]} if tag_pool and rand() < 0.5 else set()
                self._web_ids += 1
                members[md5(email.lower().encode()).hexdigest()] = Member(email, names[k], tags, {}, self._web_ids,
                                                                          stamp)
                emails.append(email)
            for t in tag_pool:
                self._tag_id(self.audiences[list_id], t)
        return emails

    def member(self, list_id: str, email: str) -> dict[str, Any]:
        """{"id", "email_address", "status", "tags" (set of names), "merge_fields" (dict)}: a copy.
        KeyError if the list or the member does not exist."""
        with self.lock:
            m = self.audiences[list_id].members[member_key(email)]
            return {"id": subscriber_hash(m.email), "email_address": m.email, "status": m.status,
                    "tags": set(m.tags), "merge_fields": dict(m.merge_fields)}

    def has_member(self, list_id: str, email: str) -> bool:
        with self.lock:
            return member_key(email) in self.audiences[list_id].members

    def set_status(self, list_id: str, email: str, status: str) -> None:
        """A change made outside the API (the contact unsubscribed, bounced): not in status_changes."""
        assert status in STATUSES, status
        with self.lock:
            self.audiences[list_id].members[member_key(email)].status = status

    def fail_member(self, email: str, status: int = 400, title: str = "Invalid Resource", detail: str | None = None,
                    *, errors: list[dict[str, str]] | None = None, count: int | None = None) -> None:
        """Every operation on this member (any list, direct or in a batch) fails with this problem,
        `count` times (None: always). Checked before the member's existence."""
        with self.lock:
            problem = Problem(status, title, SIGNUPS.format(email=email) if detail is None else detail, errors)
            self._member_failures[subscriber_hash(email)] = (problem, count)

    def _tag_id(self, a: Audience, name: str) -> int:
        return a.tag_ids.setdefault(name, 10_000 + len(a.tag_ids))


def project(data: Any, fields: str | None, exclude: str | None) -> Any:
    """Mailchimp's `fields` / `exclude_fields` query parameters: comma-separated dotted paths; a path
    through a list applies to each item."""
    if fields:
        data = _keep(data, [p.split(".") for p in fields.split(",") if p])
    for path in (exclude or "").split(","):
        if path:
            _drop(data, path.split("."))
    return data


def _keep(data: Any, paths: list[list[str]]) -> Any:
    if isinstance(data, list):
        return [_keep(item, paths) for item in data]
    if not isinstance(data, dict):
        return data
    out: dict[str, Any] = {}
    for key in dict.fromkeys(p[0] for p in paths):
        if key in data:
            rest = [p[1:] for p in paths if p[0] == key]
            out[key] = data[key] if any(not r for r in rest) else _keep(data[key], [r for r in rest if r])
    return out


def _drop(data: Any, path: list[str]) -> None:
    if isinstance(data, list):
        for item in data:
            _drop(item, path)
    elif isinstance(data, dict) and path[0] in data:
        if len(path) == 1:
            del data[path[0]]
        else:
            _drop(data[path[0]], path[1:])
