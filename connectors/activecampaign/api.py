"""ActiveCampaign v3 calls for the sink (§8.2), every one paced under the account's 5 a second."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import requests
from rfmsync.connectors.http_client import HttpClient, json_object
from rfmsync.connectors.pacing import RateWindows
from rfmsync.connectors.retry import RetryPolicy
from rfmsync.core.errors import PermanentError, TransientError

PAGE = 100


class ActiveCampaignApi:
    def __init__(self, base_url: str, token: str, *, retry: RetryPolicy, timeout: float, per_second: int,
                 sleep: Callable[[float], None], clock: Callable[[], float]) -> None:
        self.http = HttpClient(f"{base_url}/api/3", headers={"Api-Token": token}, retry=retry,
                               timeout=(5.0, timeout), origin="activecampaign")
        self.pacer = RateWindows([(per_second, 1.0)], sleep, clock)

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, path: str, *, body: Any = None, params: dict[str, str] | None = None,
             returned: Sequence[int] = ()) -> requests.Response:
        return self.http.request(method, path, json=body, params=params, returned_statuses=returned,
                                 headers=self._paced)

    def _paced(self) -> dict[str, str]:
        # Called before every attempt, retries included: a retried 429 counts against the limit too.
        self.pacer.wait()
        return {}

    @staticmethod
    def body(response: requests.Response) -> dict[str, Any]:
        return json_object(response, "ActiveCampaign")

    def paged(self, path: str, key: str, params: dict[str, str] | None = None) -> Iterator[dict[str, Any]]:
        offset = 0
        while True:
            response = self.call("GET", path, params={**(params or {}), "limit": str(PAGE), "offset": str(offset)},
                                 returned=(404,))
            if response.status_code == 404:
                raise PermanentError(f"ActiveCampaign: {path} not found (404): check base_url, the account's API "
                                     "URL from Settings -> Developer", origin="activecampaign", status=404)
            items = [i for i in self.body(response).get(key) or [] if isinstance(i, dict)]
            yield from items
            if len(items) < PAGE:
                return
            offset += PAGE

    def contact_id(self, email: str) -> str | None:
        found = self.body(self.call("GET", "/contacts", params={"email": email})).get("contacts") or []
        return str(found[0]["id"]) if found and isinstance(found[0], dict) and found[0].get("id") else None

    def all_contacts(self) -> dict[str, str]:
        """Every contact's normalized email -> id (100 a page): cheaper than one lookup per email."""
        return {str(c.get("email") or "").strip().lower(): str(c["id"]) for c in self.paged("/contacts", "contacts")
                if c.get("email") and c.get("id")}

    def field_ids(self, wanted: dict[str, str]) -> dict[str, str]:
        """Personalization tag -> custom field id, for `wanted` (perstag -> title), created when missing."""
        have = {str(f.get("perstag") or "").upper(): str(f["id"]) for f in self.paged("/fields", "fields")
                if f.get("id")}
        for perstag, title in wanted.items():
            if perstag not in have:
                created = self.body(self.call("POST", "/fields", body={"field": {
                    "type": "text", "title": title, "perstag": perstag, "visible": 1}})).get("field") or {}
                have[perstag] = str(created["id"])
                # relid 0: the field shows on every list's contacts.
                self.call("POST", "/fieldRels", body={"fieldRel": {"field": have[perstag], "relid": 0}})
        return {perstag: have[perstag] for perstag in wanted}

    def tag_id(self, name: str) -> str:
        for tag in self.body(self.call("GET", "/tags", params={"search": name})).get("tags") or []:
            if isinstance(tag, dict) and tag.get("tag") == name and tag.get("id"):
                return str(tag["id"])
        created = self.body(self.call("POST", "/tags", body={"tag": {"tag": name, "tagType": "contact"}}))
        return str((created.get("tag") or {})["id"])

    def set_field(self, contact: str, field: str, value: str) -> None:
        self.call("POST", "/fieldValues", body={"fieldValue": {"contact": contact, "field": field, "value": value},
                                                 "useDefaults": False})

    def _links(self, contact: str, tag: str) -> list[str]:
        links = self.body(self.call("GET", f"/contacts/{contact}/contactTags")).get("contactTags") or []
        return [str(link["id"]) for link in links
                if isinstance(link, dict) and str(link.get("tag")) == tag and link.get("id")]

    def add_tag(self, contact: str, tag: str) -> None:
        """Looked up first, so a replayed batch never links the same tag twice."""
        if not self._links(contact, tag):
            self.call("POST", "/contactTags", body={"contactTag": {"contact": contact, "tag": tag}})

    def remove_tag(self, contact: str, tag: str) -> None:
        """Two calls: the contact's tag links, then a DELETE of the link (never of the tag itself,
        which would take it off every contact)."""
        for link in self._links(contact, tag):
            self.call("DELETE", f"/contactTags/{link}", returned=(404,))

    def bulk_import(self, contacts: list[dict[str, Any]]) -> str:
        answer = self.body(self.call("POST", "/import/bulk_import", body={"contacts": contacts}))
        batch = answer.get("batchId") or answer.get("batch_id")
        if not batch:
            raise TransientError("ActiveCampaign: a bulk import without a batch id", origin="activecampaign")
        return str(batch)

    def import_info(self, batch: str) -> dict[str, Any]:
        return self.body(self.call("GET", "/import/info", params={"batchId": batch}))
