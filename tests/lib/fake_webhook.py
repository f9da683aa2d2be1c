"""A loopback webhook receiver on the fake-platform kit, as the webhook sink's docstring tells a
receiver to behave: verify the signature over the raw body (401 if it fails), act once per batch
id (a replay is answered 200 and changes nothing), apply changes in order.

    with FakeWebhook(secret="whsec") as hook:
        ... WebhookSink with url=hook.url ...
        assert hook.held == {"c-1": "Champions"}
"""

from __future__ import annotations

import json
from typing import Any

from rfmsync.connectors.webhook.sink import BATCH_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from rfmsync.testing.fakes import FakePlatform, Reply, Request, json_reply


class FakeWebhook(FakePlatform):
    name = "fake_webhook"

    def __init__(self, secret: str, path: str = "/hooks/catch/123/s3cr3tpath/") -> None:
        super().__init__()
        self.secret, self.path = secret, path
        self.held: dict[str, str] = {}
        self.cells: dict[str, str] = {}
        self.batches: list[str] = []  # batch ids acted on, in order
        self.deliveries: list[tuple[str, dict[str, Any]]] = []  # every signed POST: (batch id, body)
        self.route("POST", path, "POST hook", self._receive)

    @property
    def url(self) -> str:
        return self.base_url + self.path

    def authorize(self, request: Request, kind: str) -> Reply | None:
        if verify_signature(self.secret, request.headers.get(TIMESTAMP_HEADER, ""), request.body,
                            request.headers.get(SIGNATURE_HEADER, "")):
            return None
        return json_reply(401, {"error": "bad signature"})

    def _receive(self, request: Request, groups: dict[str, str]) -> Reply:
        batch_id, body = request.headers.get(BATCH_ID_HEADER, ""), json.loads(request.body)
        if body.get("batch_id") != batch_id:
            return json_reply(400, {"error": "the batch id header and body differ"})
        self.deliveries.append((batch_id, body))
        if batch_id not in self.batches:
            self.batches.append(batch_id)
            for change in body["changes"]:
                key, new = change["customer_key"], change["new_segment"]
                if new:
                    self.held[key], self.cells[key] = new, change["fields"].get("rfm_cell", "")
                else:
                    self.held.pop(key, None)
                    self.cells.pop(key, None)
        return json_reply(200, {"ok": True})

    def snapshot(self) -> tuple[dict[str, str], tuple[str, ...]]:
        with self.lock:
            return dict(self.held), tuple(self.batches)
