"""A loopback fake of ActiveCampaign's v3 API where the sink depends on it (docs/platforms.md §8.2).

    with FakeActiveCampaign() as ac:                  # token "ac-token", under /api/3
        ac.add_contact("ada@example.com")

Strict where ActiveCampaign is: `Api-Token` (403 otherwise), 5 requests a second per account (429
with Retry-After in seconds, counted in `throttled`), bulk import of at most 250 contacts and
400,000 bytes, asynchronous (`import/info` says completed after `polls_per_import` polls), an
invalid email a failure of that contact, unknown contacts created; `subscribe`/`unsubscribe` in a
bulk import change list status and are counted in `consent_writes`. Tag links are deleted by their
own id; DELETE /tags/{id} (which would untag everyone) counts in `tags_deleted`.
"""

from __future__ import annotations

import collections
import itertools
import re
import time
from dataclasses import dataclass, field
from typing import Any

from rfmsync.testing.fakes import FakePlatform, Reply, Request, json_reply

TOKEN = "ac-token"
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass
class Contact:
    id: str
    email: str
    fields: dict[str, str] = field(default_factory=dict)  # field id -> value
    tags: set[str] = field(default_factory=set)  # tag ids
    lists: dict[str, str] = field(default_factory=lambda: {"1": "active"})


@dataclass
class Import:
    contacts: list[dict[str, Any]]
    polls: int = 0
    done: bool = False
    failures: list[str] = field(default_factory=list)


class FakeActiveCampaign(FakePlatform):
    name = "fake_activecampaign"

    def __init__(self, *, per_second: int = 5, polls_per_import: int = 1) -> None:
        super().__init__()
        self.per_second, self.polls_per_import = per_second, polls_per_import
        self.contacts: dict[str, Contact] = {}
        self._by_email: dict[str, str] = {}
        self.fields: dict[str, dict[str, str]] = {"1": {"title": "Favourite colour", "perstag": "COLOUR"}}
        self.tags: dict[str, str] = {}  # id -> name
        self.links: dict[str, tuple[str, str]] = {}  # contactTag id -> (contact, tag)
        self.imports: dict[str, Import] = {}
        self.created = self.throttled = self.consent_writes = self.tags_deleted = 0
        self._ids = itertools.count(10)
        self._seen: collections.deque[float] = collections.deque()
        base = "/api/3"

        def r(method: str, pattern: str, kind: str, handler: Any) -> None:
            self.route(method, base + pattern, kind, handler)

        r("GET", "/contacts", "contacts", self._contacts)
        r("GET", "/fields", "fields", self._fields)
        r("POST", "/fields", "fields", self._add_field)
        r("POST", "/fieldRels", "fields", lambda q, g: json_reply(201, {"fieldRel": {"id": "1"}}))
        r("POST", "/fieldValues", "values", self._value)
        r("GET", "/tags", "tags", self._find_tags)
        r("POST", "/tags", "tags", self._add_tag)
        r("DELETE", "/tags/(?P<id>[^/]+)", "tags", self._delete_tag)
        r("POST", "/contactTags", "tags", self._link)
        r("GET", "/contacts/(?P<id>[^/]+)/contactTags", "tags", self._links)
        r("DELETE", "/contactTags/(?P<id>[^/]+)", "tags", self._unlink)
        r("POST", "/import/bulk_import", "import", self._import)
        r("GET", "/import/info", "import", self._info)

    # -- helpers for tests -------------------------------------------------------------------------
    def add_contact(self, email: str) -> str:
        with self.lock:
            contact = Contact(str(next(self._ids)), email.lower(), {"1": "green"})
            self._keep(contact)
            return contact.id

    def _keep(self, contact: Contact) -> None:
        self.contacts[contact.id] = contact
        self._by_email[contact.email] = contact.id

    def by_email(self, email: str) -> Contact:
        return self.contacts[self._by_email[email.strip().lower()]]

    def value(self, contact: Contact, perstag: str) -> str | None:
        ids = [i for i, f in self.fields.items() if f["perstag"] == perstag]
        return contact.fields.get(ids[0]) if ids else None

    def tag_names(self, contact: Contact) -> set[str]:
        return {self.tags[t] for t in contact.tags}

    def snapshot(self) -> Any:
        with self.lock:
            return {c.id: (tuple(sorted(c.fields.items())), frozenset(c.tags), tuple(c.lists.items()))
                    for c in self.contacts.values()}

    # -- the kit -----------------------------------------------------------------------------------
    def authorize(self, request: Request, kind: str) -> Reply | None:
        if request.headers.get("Api-Token") != TOKEN:
            return json_reply(403, {"message": "No Result found for Subscriber with id 0"})
        now = time.monotonic()
        while self._seen and self._seen[0] <= now - 1.0:
            self._seen.popleft()
        if len(self._seen) >= self.per_second:
            self.throttled += 1
            return json_reply(429, {"message": "Too Many Requests"}, **{"Retry-After": "1"})
        self._seen.append(now)
        return None

    def error_reply(self, status: int, retry_after: float | None = None) -> Reply:
        headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
        return json_reply(status, {"message": "error"}, **headers)

    # -- routes ------------------------------------------------------------------------------------
    def _contacts(self, request: Request, groups: dict[str, str]) -> Reply:
        query = request.query
        if "email" in query:
            found = self._by_email.get(query["email"].strip().lower())
            contacts = [] if found is None else [self.contacts[found]]
        else:
            contacts = list(self.contacts.values())
        limit, offset = min(int(query.get("limit", "20")), 100), int(query.get("offset", "0"))
        page = contacts[offset:offset + limit]
        return json_reply(200, {"contacts": [{"id": c.id, "email": c.email} for c in page],
                                "meta": {"total": str(len(contacts))}})

    def _fields(self, request: Request, groups: dict[str, str]) -> Reply:
        limit, offset = min(int(request.query.get("limit", "20")), 100), int(request.query.get("offset", "0"))
        items = [{"id": i, **f} for i, f in self.fields.items()][offset:offset + limit]
        return json_reply(200, {"fields": items})

    def _add_field(self, request: Request, groups: dict[str, str]) -> Reply:
        body = (request.json() or {}).get("field") or {}
        if not body.get("title") or body.get("type") != "text":
            return json_reply(422, {"errors": [{"title": "Invalid field", "code": "field_invalid"}]})
        field_id = str(next(self._ids))
        self.fields[field_id] = {"title": str(body["title"]), "perstag": str(body.get("perstag") or "")}
        return json_reply(201, {"field": {"id": field_id, **self.fields[field_id]}})

    def _value(self, request: Request, groups: dict[str, str]) -> Reply:
        body = (request.json() or {}).get("fieldValue") or {}
        contact = self.contacts.get(str(body.get("contact")))
        if contact is None or str(body.get("field")) not in self.fields:
            return json_reply(422, {"errors": [{"title": "Invalid contact or field", "code": "invalid"}]})
        contact.fields[str(body["field"])] = str(body.get("value") or "")
        if contact.fields[str(body["field"])] == "":
            del contact.fields[str(body["field"])]
        return json_reply(200, {"fieldValue": body})

    def _find_tags(self, request: Request, groups: dict[str, str]) -> Reply:
        search = request.query.get("search", "")
        return json_reply(200, {"tags": [{"id": i, "tag": n} for i, n in self.tags.items() if search in n]})

    def _tag_named(self, name: str) -> str:
        for tag_id, existing in self.tags.items():
            if existing == name:
                return tag_id
        tag_id = str(next(self._ids))
        self.tags[tag_id] = name
        return tag_id

    def _add_tag(self, request: Request, groups: dict[str, str]) -> Reply:
        name = str(((request.json() or {}).get("tag") or {}).get("tag") or "")
        return json_reply(201, {"tag": {"id": self._tag_named(name), "tag": name}})

    def _delete_tag(self, request: Request, groups: dict[str, str]) -> Reply:
        self.tags_deleted += 1
        return json_reply(200, {})

    def _link(self, request: Request, groups: dict[str, str]) -> Reply:
        body = (request.json() or {}).get("contactTag") or {}
        contact, tag = self.contacts.get(str(body.get("contact"))), str(body.get("tag"))
        if contact is None or tag not in self.tags:
            return json_reply(422, {"errors": [{"title": "Invalid contact or tag", "code": "invalid"}]})
        contact.tags.add(tag)
        link = str(next(self._ids))
        self.links[link] = (contact.id, tag)
        return json_reply(201, {"contactTag": {"id": link, "contact": contact.id, "tag": tag}})

    def _links(self, request: Request, groups: dict[str, str]) -> Reply:
        return json_reply(200, {"contactTags": [{"id": i, "contact": c, "tag": t} for i, (c, t) in self.links.items()
                                                if c == groups["id"]]})

    def _unlink(self, request: Request, groups: dict[str, str]) -> Reply:
        link = self.links.pop(groups["id"], None)
        if link is None:
            return json_reply(404, {"message": f"No Result found for SubscriberTag with id {groups['id']}"})
        self.contacts[link[0]].tags.discard(link[1])
        return json_reply(200, {})

    def _import(self, request: Request, groups: dict[str, str]) -> Reply:
        if len(request.body) >= 400_000:
            return json_reply(413, {"message": "Payload is larger than 400,000 bytes"})
        contacts = (request.json() or {}).get("contacts")
        if not isinstance(contacts, list) or not 1 <= len(contacts) <= 250:
            return json_reply(400, {"message": "1 to 250 contacts per request"})
        self.consent_writes += sum(1 for c in contacts if "subscribe" in c or "unsubscribe" in c)
        batch = f"b{next(self._ids)}"
        self.imports[batch] = Import(contacts)
        return json_reply(200, {"success": 1, "queued_contacts": len(contacts), "batchId": batch})

    def _info(self, request: Request, groups: dict[str, str]) -> Reply:
        job = self.imports.get(request.query.get("batchId", ""))
        if job is None:
            return json_reply(404, {"message": "batch not found"})
        job.polls += 1
        if not job.done and job.polls >= self.polls_per_import:
            self._apply(job)
        return json_reply(200, {"status": "completed" if job.done else "outstanding",
                                "success": len(job.contacts) - len(job.failures) if job.done else 0,
                                "failure": job.failures if job.done else []})

    def _apply(self, job: Import) -> None:
        for item in job.contacts:
            email = str(item.get("email") or "").strip().lower()
            if not _EMAIL.fullmatch(email):
                job.failures.append(email)
                continue
            if email in self._by_email:
                contact = self.contacts[self._by_email[email]]
            else:
                contact = Contact(str(next(self._ids)), email, lists={})
                self._keep(contact)
                self.created += 1
            for value in item.get("fields") or []:
                if str(value.get("id")) in self.fields:
                    if value.get("value") in ("", None):
                        contact.fields.pop(str(value["id"]), None)
                    else:
                        contact.fields[str(value["id"])] = str(value["value"])
            for name in item.get("tags") or []:
                tag = self._tag_named(str(name))
                if tag not in contact.tags:
                    contact.tags.add(tag)
                    self.links[str(next(self._ids))] = (contact.id, tag)
        job.done = True
