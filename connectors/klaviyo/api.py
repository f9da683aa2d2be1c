"""Klaviyo API calls for the sink: JSON:API through the project's HTTP client, each endpoint class
paced under its burst and steady limit (§5.3), 429 waited out on its Retry-After by the client."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import requests
from rfmsync.connectors.http_client import HttpClient, json_object
from rfmsync.connectors.pacing import RateWindows
from rfmsync.connectors.retry import RetryPolicy
from rfmsync.core.errors import PermanentError, TransientError

MEDIA = "application/vnd.api+json"
# (requests, seconds) per endpoint class (§5.2): profile reads and PATCHes are L (75/s, 750/m; the
# OAS's steady value), bulk import jobs and list calls M (10/s, 150/m).
LIMITS = {"profiles": ((75, 1.0), (750, 60.0)), "jobs": ((10, 1.0), (150, 60.0)), "lists": ((10, 1.0), (150, 60.0))}
LOOKUP = 100  # emails per any(email, [...]) lookup, and Klaviyo's page[size] maximum
LIST_CALL = 1_000  # profile ids per list add or remove (§5.2)


class KlaviyoApi:
    def __init__(self, api_key: str, revision: str, base_url: str, *, retry: RetryPolicy, timeout: float,
                 sleep: Callable[[float], None], clock: Callable[[], float]) -> None:
        headers = {"Authorization": f"Klaviyo-API-Key {api_key}", "revision": revision, "Accept": MEDIA,
                   "Content-Type": MEDIA}
        self.http = HttpClient(base_url.rstrip("/"), headers=headers, retry=retry, timeout=(5.0, timeout),
                               origin="klaviyo")
        self.pacers = {kind: RateWindows(windows, sleep, clock) for kind, windows in LIMITS.items()}

    def close(self) -> None:
        self.http.close()

    def call(self, kind: str, method: str, path: str, *, body: Any = None, params: dict[str, str] | None = None,
             returned: Sequence[int] = ()) -> requests.Response:
        data = None if body is None else json.dumps(body, separators=(",", ":"))

        def paced() -> dict[str, str]:
            # Called before every attempt, retries included: each counts against the class's limits.
            self.pacers[kind].wait()
            return {}

        return self.http.request(method, path, data=data, params=params, returned_statuses=returned, headers=paced)

    @staticmethod
    def body(response: requests.Response) -> dict[str, Any]:
        return json_object(response, "Klaviyo")

    def profile_ids(self, emails: Sequence[str]) -> dict[str, str]:
        """Normalized email -> profile id, for the profiles that exist (100 emails per lookup)."""
        found: dict[str, str] = {}
        for start in range(0, len(emails), LOOKUP):
            chunk = emails[start:start + LOOKUP]
            params: dict[str, str] | None = {"filter": f"any(email,{json.dumps(list(chunk))})",
                                             "page[size]": str(LOOKUP), "fields[profile]": "email"}
            url = "/api/profiles/"
            while url:
                page = self.body(self.call("profiles", "GET", url, params=params))
                for item in page.get("data") or []:
                    email = str((item.get("attributes") or {}).get("email") or "").strip().lower()
                    if email and item.get("id"):
                        found.setdefault(email, str(item["id"]))
                url = (page.get("links") or {}).get("next") or ""
                params = None  # the next link carries them
        return found

    def patch_profile(self, profile_id: str, properties: dict[str, str], unset: Sequence[str]) -> int:
        """Sets and clears properties on one profile; the status (404: the profile is gone)."""
        body: dict[str, Any] = {"data": {"type": "profile", "id": profile_id,
                                         "attributes": {"properties": properties} if properties else {}}}
        if unset:
            body["data"]["meta"] = {"patch_properties": {"unset": list(unset)}}
        return self.call("profiles", "PATCH", f"/api/profiles/{profile_id}/", body=body, returned=(404,)).status_code

    def start_import(self, profiles: list[dict[str, Any]]) -> str:
        body = {"data": {"type": "profile-bulk-import-job", "attributes": {"profiles": {"data": profiles}}}}
        job = self.body(self.call("jobs", "POST", "/api/profile-bulk-import-jobs/", body=body)).get("data") or {}
        if not job.get("id"):
            raise TransientError("Klaviyo: a bulk import job without an id", origin="klaviyo")
        return str(job["id"])

    def job_status(self, job_id: str) -> str:
        job = self.body(self.call("jobs", "GET", f"/api/profile-bulk-import-jobs/{job_id}/")).get("data") or {}
        return str((job.get("attributes") or {}).get("status") or "")

    def import_errors(self, job_id: str) -> Iterator[dict[str, Any]]:
        url = f"/api/profile-bulk-import-jobs/{job_id}/import-errors/"
        params: dict[str, str] | None = {"page[size]": "100"}
        while url:
            page = self.body(self.call("jobs", "GET", url, params=params))
            yield from (item for item in page.get("data") or [] if isinstance(item, dict))
            url = (page.get("links") or {}).get("next") or ""
            params = None

    def list_members(self, list_id: str, profile_ids: Sequence[str], *, add: bool, what: str) -> None:
        for start in range(0, len(profile_ids), LIST_CALL):
            body = {"data": [{"type": "profile", "id": pid} for pid in profile_ids[start:start + LIST_CALL]]}
            response = self.call("lists", "POST" if add else "DELETE", f"/api/lists/{list_id}/relationships/profiles/",
                                 body=body, returned=(404,))
            if response.status_code == 404:
                raise PermanentError(f"Klaviyo: no list with id {list_id!r} ({what}); check lists", origin="klaviyo",
                                     status=404)

    def find_or_create_list(self, name: str) -> str:
        wanted = {"filter": f"equals(name,{json.dumps(name)})"}
        page = self.body(self.call("lists", "GET", "/api/lists/", params=wanted))
        for item in page.get("data") or []:
            if (item.get("attributes") or {}).get("name") == name and item.get("id"):
                return str(item["id"])
        created = self.body(self.call("lists", "POST", "/api/lists/",
                                      body={"data": {"type": "list", "attributes": {"name": name}}}))
        list_id = (created.get("data") or {}).get("id")
        if not list_id:
            raise TransientError("Klaviyo: a created list without an id", origin="klaviyo")
        return str(list_id)
