"""HubSpot CRM calls for the sink (v3 paths, §8.1), paced under the 10-second window and counted
against the portal's daily limit."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

import requests
from rfmsync.connectors.base import SinkMemory
from rfmsync.connectors.http_client import HttpClient, json_object
from rfmsync.connectors.pacing import RateWindows
from rfmsync.connectors.retry import RetryPolicy
from rfmsync.core.clock import utc_now
from rfmsync.core.errors import PermanentError, TransientError

CONTACTS = "0-1"  # HubSpot's object type id of contacts


class HubSpotApi:
    def __init__(self, token: str, base_url: str, *, retry: RetryPolicy, timeout: float, per_10_seconds: int,
                 daily_limit: int, sleep: Callable[[float], None], clock: Callable[[], float]) -> None:
        self.http = HttpClient(base_url.rstrip("/"), headers={"Authorization": f"Bearer {token}"}, retry=retry,
                               timeout=(5.0, timeout), origin="hubspot")
        self.pacer = RateWindows([(per_10_seconds, 10.0)], sleep, clock)
        self.daily_limit = daily_limit
        self.memory: SinkMemory | None = None
        self._today: tuple[str, int] | None = None

    def close(self) -> None:
        self.save_count()
        self.http.close()

    def _count(self) -> None:
        day = utc_now().date().isoformat()
        if self._today is None or self._today[0] != day:
            stored = self.memory.get(f"requests:{day}") if self.memory else None
            self._today = (day, int(stored) if stored and stored.isdigit() else 0)
        if self._today[1] >= self.daily_limit:
            raise TransientError(f"HubSpot: {self._today[1]:,} requests today reach the daily limit of "
                                 f"{self.daily_limit:,} (daily_limit); the rest goes out tomorrow", origin="hubspot")
        self._today = (day, self._today[1] + 1)

    def save_count(self) -> None:
        if self._today is not None and self.memory is not None:
            self.memory.put(f"requests:{self._today[0]}", str(self._today[1]))

    def call(self, method: str, path: str, *, body: Any = None, returned: Sequence[int] = ()) -> requests.Response:
        return self.http.request(method, path, json=body, returned_statuses=returned, headers=self._paced)

    def _paced(self) -> dict[str, str]:
        # Called before every attempt, retries included: each counts against the limits.
        self._count()
        self.pacer.wait()
        return {}

    @staticmethod
    def body(response: requests.Response) -> dict[str, Any]:
        return json_object(response, "HubSpot")

    def contact_ids(self, emails: Sequence[str]) -> dict[str, str]:
        """Normalized email -> contact id for the contacts that exist (100 a batch read)."""
        found: dict[str, str] = {}
        for start in range(0, len(emails), 100):
            inputs = [{"id": e} for e in emails[start:start + 100]]
            answer = self.body(self.call("POST", "/crm/v3/objects/contacts/batch/read", returned=(207,), body={
                "idProperty": "email", "inputs": inputs, "properties": ["email"]}))
            for item in answer.get("results") or []:
                email = str((item.get("properties") or {}).get("email") or "").strip().lower()
                if email and item.get("id"):
                    found[email] = str(item["id"])
        return found

    def upsert(self, inputs: list[dict[str, Any]]) -> tuple[dict[str, str], dict[str, str]]:
        """(trace id -> contact id of each accepted input, trace id -> reason of each refused one)."""
        response = self.call("POST", "/crm/v3/objects/contacts/batch/upsert", body={"inputs": inputs},
                             returned=(207,))
        answer = self.body(response)
        by_email = {str(i["id"]).lower(): str(i["objectWriteTraceId"]) for i in inputs}
        accepted = {}
        for item in answer.get("results") or []:
            email = str((item.get("properties") or {}).get("email") or "").strip().lower()
            trace = item.get("objectWriteTraceId") or by_email.get(email)
            if trace and item.get("id"):
                accepted[str(trace)] = str(item["id"])
        refused = {}
        for error in answer.get("errors") or []:
            trace = error.get("objectWriteTraceId") or next(iter((error.get("context") or {}).get(
                "objectWriteTraceId") or []), None)
            if trace:
                # Category only: the message quotes the input.
                refused[str(trace)] = f"HubSpot refused the contact: {str(error.get('category') or 'error')[:60]}"
        return accepted, refused

    def ensure_properties(self, group: str, names: dict[str, str]) -> None:
        """The property group and each property (name -> label), created when missing."""
        if self.call("GET", f"/crm/v3/properties/contacts/groups/{group}", returned=(404,)).status_code == 404:
            self.call("POST", "/crm/v3/properties/contacts/groups", returned=(409,),
                      body={"name": group, "label": "RFM", "displayOrder": -1})
        for name, label in names.items():
            if self.call("GET", f"/crm/v3/properties/contacts/{name}", returned=(404,)).status_code == 404:
                self.call("POST", "/crm/v3/properties/contacts", returned=(409,), body={
                    "name": name, "label": label, "type": "string", "fieldType": "text", "groupName": group})

    def list_id(self, name: str) -> str:
        """The MANUAL contact list of this name, created when missing."""
        found = self.call("GET", f"/crm/v3/lists/object-type-id/{CONTACTS}/name/{quote(name, safe='')}",
                          returned=(404,))
        if found.status_code != 404:
            return str((self.body(found).get("list") or {})["listId"])
        created = self.body(self.call("POST", "/crm/v3/lists", body={
            "name": name, "objectTypeId": CONTACTS, "processingType": "MANUAL"}))
        return str((created.get("list") or {})["listId"])

    def change_members(self, list_id: str, add: Sequence[str], remove: Sequence[str], what: str) -> None:
        for start in range(0, max(len(add), len(remove)), 10_000):
            response = self.call("PUT", f"/crm/v3/lists/{list_id}/memberships/add-and-remove", returned=(400, 404),
                                 body={"recordIdsToAdd": list(add[start:start + 10_000]),
                                       "recordIdsToRemove": list(remove[start:start + 10_000])})
            if response.status_code == 404:
                raise PermanentError(f"HubSpot: no list with id {list_id!r} ({what}); check lists", origin="hubspot",
                                     status=404)
            if response.status_code == 400:
                raise PermanentError(f"HubSpot: list {list_id!r} ({what}) refused the change (400): only MANUAL "
                                     "lists can be written, not active (DYNAMIC) ones", origin="hubspot", status=400)
