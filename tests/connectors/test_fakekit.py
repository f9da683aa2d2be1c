"""The fake-platform kit itself: routes, auth, journal and every kind of fault it injects."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from rfmsync.testing.fakes import FakePlatform, Reply, Request, json_reply


class FakeNotes(FakePlatform):
    name = "fake_notes"

    def __init__(self) -> None:
        super().__init__()
        self.notes: dict[str, str] = {}
        self.route("PUT", "/notes/(?P<id>[^/]+)", "PUT note", self._put)
        self.route("GET", "/notes/(?P<id>[^/]+)", "GET note",
                   lambda r, g: json_reply(200, {"text": self.notes[g["id"]]}))

    def authorize(self, request: Request, kind: str) -> Reply | None:
        return None if request.headers.get("Authorization") == "Bearer t" else json_reply(401, {"error": "no"})

    def _put(self, request: Request, groups: dict[str, str]) -> Reply:
        self.notes[groups["id"]] = request.json()["text"]
        return json_reply(200, {"ok": True})

    def snapshot(self) -> dict[str, str]:
        return dict(self.notes)


@pytest.fixture
def fake() -> Iterator[FakeNotes]:
    with FakeNotes() as notes:
        yield notes


def put(fake: FakeNotes, text: str = "hi", token: str = "t") -> requests.Response:
    return requests.put(f"{fake.base_url}/notes/a", json={"text": text}, headers={"Authorization": f"Bearer {token}"},
                        timeout=5)


def test_routes_auth_and_journal(fake: FakeNotes) -> None:
    assert put(fake, token="wrong").status_code == 401
    assert put(fake).status_code == 200
    assert requests.get(f"{fake.base_url}/notes/a", headers={"Authorization": "Bearer t"}, timeout=5).json() == \
        {"text": "hi"}
    assert fake.snapshot() == {"a": "hi"}
    assert (fake.received, fake.writes, fake.received_by_kind["PUT note"]) == (3, 2, 2)
    assert fake.journal == [("PUT note", 401), ("PUT note", 200), ("GET note", 200)]


def test_faults_first_n_by_kind_at_request_and_retry_after(fake: FakeNotes) -> None:
    fake.faults.add(429, 2, kind="PUT note", retry_after=7)
    fake.faults.at_request(4, 503, body="html")
    first, second = put(fake), put(fake)
    assert (first.status_code, first.headers["Retry-After"], first.json()) == (429, "7", {"error": "Too Many Requests"})
    assert second.status_code == 429
    assert put(fake).status_code == 200
    fourth = put(fake)
    assert (fourth.status_code, fourth.headers["Content-Type"], b"503 Service Unavailable" in fourth.content) == \
        (503, "text/html", True)
    assert fake.faults.injected == 3 and fake.snapshot() == {"a": "hi"}


def test_a_seeded_rate_fails_the_same_requests_each_time() -> None:
    outcomes = []
    for _ in range(2):
        with FakeNotes() as fake:
            fake.faults.rate(0.3, 500, seed=4, body="empty")
            outcomes.append([put(fake).status_code for _ in range(20)])
    assert outcomes[0] == outcomes[1] and 2 <= outcomes[0].count(500) <= 12


def test_a_dropped_connection_mid_answer(fake: FakeNotes) -> None:
    fake.faults.add(200, body="drop")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        put(fake)
    assert put(fake).status_code == 200


def test_a_handler_can_hang_up_without_answering(fake: FakeNotes) -> None:
    fake.route("POST", "/hang-up", "hang up", lambda r, g: Reply(200, hang_up=True))
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(f"{fake.base_url}/hang-up", headers={"Authorization": "Bearer t"}, timeout=5)
    assert put(fake).status_code == 200  # the server goes on serving


def test_a_request_no_route_takes_fails_the_test_at_close() -> None:
    fake = FakeNotes().start()
    assert requests.delete(f"{fake.base_url}/notes/a", headers={"Authorization": "Bearer t"}, timeout=5).status_code \
        == 404
    with pytest.raises(AssertionError, match="fake_notes failed on a request:\nunsupported request: DELETE /notes/a"):
        fake.close()
