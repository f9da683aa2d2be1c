"""A loopback fake of the Example CRM on rfmsync's fake-platform kit: its routes and rules only."""

from __future__ import annotations

from typing import Any

from rfmsync.testing.fakes import FakePlatform, Reply, Request, json_reply

TOKEN = "crm-token-0123456789"


class FakeCrm(FakePlatform):
    name = "fake_crm"

    def __init__(self) -> None:
        super().__init__()
        self.contacts: dict[str, dict[str, Any]] = {}
        self.route("PUT", "/contacts/(?P<id>[^/]+)", "PUT contact", self._put)

    def authorize(self, request: Request, kind: str) -> Reply | None:
        if request.headers.get("Authorization") == f"Bearer {TOKEN}":
            return None
        return json_reply(401, {"error": "invalid_token"})

    def error_reply(self, status: int, retry_after: float | None = None) -> Reply:
        headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
        return json_reply(status, {"error": {"code": f"http_{status}"}}, **headers)

    def _put(self, request: Request, groups: dict[str, str]) -> Reply:
        body = request.json()
        if not isinstance(body, dict) or set(body) != {"email", "rfm_segment", "rfm_cell"}:
            return json_reply(400, {"error": {"code": "invalid_body"}})
        if body["email"] and body["email"].endswith("@blocked.example"):
            return json_reply(422, {"error": {"code": "email_blocked"}})
        self.contacts[groups["id"]] = body
        return json_reply(200, {"id": groups["id"], **body})

    def segments(self) -> dict[str, str]:
        return {key: c["rfm_segment"] for key, c in self.contacts.items() if c["rfm_segment"]}
