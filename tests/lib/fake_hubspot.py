"""A loopback fake of HubSpot's CRM API where the sink depends on it (docs/platforms.md §8.1), on the kit.

    with FakeHubSpot() as hubspot:                    # private app token "pat-fake"
        hubspot.add_contact("ada@example.com")
        ... the sink with base_url=hubspot.base_url ...

Strict where HubSpot is: Bearer token (401; "pat-noscope" gets 403 MISSING_SCOPES), at most 100
inputs per batch call (400), unknown properties refused per input, a 207 listing the refused inputs
by objectWriteTraceId, an empty string clearing a property, upsert creating contacts it does not
know (counted in `created`), MANUAL lists only for membership writes, 100 requests per 10 s
(429 RATE_LIMIT, counted in `throttled`). Writing a subscription property counts in `consent_writes`.
"""

from __future__ import annotations

import collections
import itertools
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from rfmsync.testing.fakes import FakePlatform, Reply, Request, json_reply

TOKEN = "pat-fake"
CONSENT_PROPERTIES = frozenset({"hs_email_optout", "hs_marketable_status", "hs_legal_basis"})
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass
class Contact:
    id: str
    email: str
    properties: dict[str, str] = field(default_factory=dict)


@dataclass
class HList:
    id: str
    name: str
    processing: str = "MANUAL"
    members: set[str] = field(default_factory=set)


class HubSpotError(Exception):
    def __init__(self, status: int, category: str, message: str) -> None:
        super().__init__(message)
        self.status, self.category = status, category


class FakeHubSpot(FakePlatform):
    name = "fake_hubspot"

    def __init__(self, *, per_10_seconds: int = 100) -> None:
        super().__init__()
        self.per_10_seconds = per_10_seconds
        self.contacts: dict[str, Contact] = {}
        self._by_email: dict[str, str] = {}
        self.lists: dict[str, HList] = {}
        self.groups: set[str] = set()
        self.properties: dict[str, str] = {"email": "contactinformation", "firstname": "contactinformation",
                                           **dict.fromkeys(CONSENT_PROPERTIES, "contactinformation")}
        self.created = self.throttled = self.consent_writes = 0
        self._ids = itertools.count(101)
        self._seen: collections.deque[float] = collections.deque()

        def r(method: str, pattern: str, kind: str, handler: Any) -> None:
            self.route(method, pattern, kind, self._guarded(handler))

        r("POST", "/crm/v3/objects/contacts/batch/read", "read", self._read)
        r("POST", "/crm/v3/objects/contacts/batch/upsert", "upsert", self._upsert)
        r("GET", "/crm/v3/properties/contacts/groups/(?P<name>[^/]+)", "schema", self._get_group)
        r("POST", "/crm/v3/properties/contacts/groups", "schema", self._add_group)
        r("GET", "/crm/v3/properties/contacts/(?P<name>[^/]+)", "schema", self._get_property)
        r("POST", "/crm/v3/properties/contacts", "schema", self._add_property)
        r("GET", "/crm/v3/lists/object-type-id/0-1/name/(?P<name>.+)", "lists", self._find_list)
        r("POST", "/crm/v3/lists", "lists", self._create_list)
        r("PUT", "/crm/v3/lists/(?P<id>[^/]+)/memberships/add-and-remove", "lists", self._members)

    # -- helpers for tests -------------------------------------------------------------------------
    def add_contact(self, email: str, **properties: str) -> str:
        with self.lock:
            contact = Contact(str(next(self._ids)), email.lower(), {"email": email.lower(), **properties})
            self._keep(contact)
            return contact.id

    def _keep(self, contact: Contact) -> None:
        self.contacts[contact.id] = contact
        self._by_email[contact.email] = contact.id

    def _with_email(self, email: str) -> list[Contact]:
        found = self._by_email.get(email)
        return [] if found is None else [self.contacts[found]]

    def add_list(self, name: str, processing: str = "MANUAL") -> str:
        with self.lock:
            hlist = HList(str(next(self._ids)), name, processing)
            self.lists[hlist.id] = hlist
            return hlist.id

    def by_email(self, email: str) -> Contact:
        return self.contacts[self._by_email[email.strip().lower()]]

    def snapshot(self) -> Any:
        with self.lock:
            return ({c.id: tuple(sorted(c.properties.items())) for c in self.contacts.values()},
                    {h.id: frozenset(h.members) for h in self.lists.values()})

    # -- the kit -----------------------------------------------------------------------------------
    def authorize(self, request: Request, kind: str) -> Reply | None:
        header = request.headers.get("Authorization", "")
        if header == "Bearer pat-noscope":
            return _error(HubSpotError(403, "MISSING_SCOPES", "This app hasn't been granted all required scopes"))
        if header != f"Bearer {TOKEN}":
            return _error(HubSpotError(401, "INVALID_AUTHENTICATION", "Authentication credentials not found."))
        now = time.monotonic()
        while self._seen and self._seen[0] <= now - 10.0:
            self._seen.popleft()
        if len(self._seen) >= self.per_10_seconds:
            self.throttled += 1
            return _error(HubSpotError(429, "RATE_LIMITS", "You have reached your ten_secondly_rolling limit."))
        self._seen.append(now)
        return None

    def error_reply(self, status: int, retry_after: float | None = None) -> Reply:
        reply = _error(HubSpotError(status, "RATE_LIMITS" if status == 429 else "INTERNAL_ERROR", "error"))
        if retry_after is not None:
            reply.headers["Retry-After"] = f"{retry_after:g}"
        return reply

    @staticmethod
    def _guarded(handler: Any) -> Any:
        def run(request: Request, groups: dict[str, str]) -> Reply:
            try:
                return handler(request, groups)  # type: ignore[no-any-return]
            except HubSpotError as exc:
                return _error(exc)
        return run

    # -- routes ------------------------------------------------------------------------------------
    def _inputs(self, request: Request) -> list[dict[str, Any]]:
        inputs = (request.json() or {}).get("inputs")
        if not isinstance(inputs, list) or not inputs:
            raise HubSpotError(400, "VALIDATION_ERROR", "inputs are required")
        if len(inputs) > 100:
            raise HubSpotError(400, "VALIDATION_ERROR", "The maximum number of inputs supported in a batch "
                               "request is 100")
        return inputs

    def _contact_body(self, contact: Contact, *, new: bool = False) -> dict[str, Any]:
        return {"id": contact.id, "properties": dict(contact.properties), "archived": False, "new": new}

    def _read(self, request: Request, groups: dict[str, str]) -> Reply:
        body = request.json() or {}
        if body.get("idProperty") != "email":
            raise HubSpotError(400, "VALIDATION_ERROR", "idProperty email expected by this fake")
        found, errors = [], []
        for item in self._inputs(request):
            email = str(item.get("id") or "").strip().lower()
            match = self._with_email(email)
            if match:
                found.append(self._contact_body(match[0]))
            else:
                errors.append({"status": "error", "category": "OBJECT_NOT_FOUND", "message": "Could not get some "
                               "CONTACT objects, they may be deleted or not exist."})
        return json_reply(207 if errors else 200, {"status": "COMPLETE", "results": found, "errors": errors,
                                                   "numErrors": len(errors)})

    def _upsert(self, request: Request, groups: dict[str, str]) -> Reply:
        results, errors = [], []
        for item in self._inputs(request):
            trace = item.get("objectWriteTraceId")
            email = str(item.get("id") or "").strip().lower()
            properties = item.get("properties") or {}
            unknown = [p for p in properties if p not in self.properties]
            if item.get("idProperty") != "email" or not _EMAIL.fullmatch(email) or unknown:
                error = {"status": "error", "category": "VALIDATION_ERROR",
                         "message": f"Property values were not valid: {email}", "context": {}}
                if trace:
                    error["objectWriteTraceId"] = trace
                    errors.append(error)
                    continue
                raise HubSpotError(400, "VALIDATION_ERROR", "Property values were not valid")
            self.consent_writes += sum(1 for p in properties if p in CONSENT_PROPERTIES)
            match = self._with_email(email)
            if match:
                contact, new = match[0], False
            else:
                contact, new = Contact(str(next(self._ids)), email, {"email": email}), True
                self._keep(contact)
                self.created += 1
            for name, value in properties.items():
                if value == "":
                    contact.properties.pop(name, None)
                else:
                    contact.properties[name] = str(value)
            results.append(self._contact_body(contact, new=new))
        return json_reply(207 if errors else 200, {"status": "COMPLETE", "results": results, "errors": errors,
                                                   "numErrors": len(errors)})

    def _get_group(self, request: Request, groups: dict[str, str]) -> Reply:
        if groups["name"] not in self.groups:
            raise HubSpotError(404, "OBJECT_NOT_FOUND", "group not found")
        return json_reply(200, {"name": groups["name"]})

    def _add_group(self, request: Request, groups: dict[str, str]) -> Reply:
        name = str((request.json() or {}).get("name") or "")
        if name in self.groups:
            raise HubSpotError(409, "CONFLICT", "group exists")
        self.groups.add(name)
        return json_reply(201, {"name": name})

    def _get_property(self, request: Request, groups: dict[str, str]) -> Reply:
        if groups["name"] not in self.properties:
            raise HubSpotError(404, "OBJECT_NOT_FOUND", "property not found")
        return json_reply(200, {"name": groups["name"], "groupName": self.properties[groups["name"]]})

    def _add_property(self, request: Request, groups: dict[str, str]) -> Reply:
        body = request.json() or {}
        name, group = str(body.get("name") or ""), str(body.get("groupName") or "")
        if group not in self.groups or body.get("type") != "string" or not name:
            raise HubSpotError(400, "VALIDATION_ERROR", "property needs a name, type string and an existing group")
        if name in self.properties:
            raise HubSpotError(409, "CONFLICT", "property exists")
        self.properties[name] = group
        return json_reply(201, {"name": name, "groupName": group})

    def _find_list(self, request: Request, groups: dict[str, str]) -> Reply:
        name = unquote(groups["name"])
        found = [h for h in self.lists.values() if h.name == name]
        if not found:
            raise HubSpotError(404, "OBJECT_NOT_FOUND", "list not found")
        return json_reply(200, {"list": {"listId": found[0].id, "name": name, "processingType": found[0].processing}})

    def _create_list(self, request: Request, groups: dict[str, str]) -> Reply:
        body = request.json() or {}
        if body.get("objectTypeId") != "0-1" or body.get("processingType") not in ("MANUAL", "SNAPSHOT"):
            raise HubSpotError(400, "VALIDATION_ERROR", "objectTypeId 0-1 and a MANUAL processingType expected")
        hlist = HList(str(next(self._ids)), str(body.get("name")), str(body["processingType"]))
        self.lists[hlist.id] = hlist
        return json_reply(200, {"list": {"listId": hlist.id, "name": hlist.name}})

    def _members(self, request: Request, groups: dict[str, str]) -> Reply:
        hlist = self.lists.get(groups["id"])
        if hlist is None:
            raise HubSpotError(404, "OBJECT_NOT_FOUND", "list not found")
        if hlist.processing == "DYNAMIC":
            raise HubSpotError(400, "VALIDATION_ERROR", "cannot manually change memberships of a DYNAMIC list")
        body = request.json() or {}
        add = [str(i) for i in body.get("recordIdsToAdd") or []]
        remove = [str(i) for i in body.get("recordIdsToRemove") or []]
        missing = [i for i in add + remove if i not in self.contacts]
        hlist.members.update(i for i in add if i in self.contacts)
        hlist.members.difference_update(remove)
        return json_reply(200, {"recordsIdsAdded": [i for i in add if i in self.contacts],
                                "recordIdsRemoved": remove, "recordIdsMissing": missing})


def _error(exc: HubSpotError) -> Reply:
    return json_reply(exc.status, {"status": "error", "message": str(exc), "correlationId": "c0ffee",
                                   "category": exc.category})
