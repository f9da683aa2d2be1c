"""The Google Data Manager fake behaves like the API where the ad sinks depend on it (docs/platforms.md §7.2)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from fake_google import FakeGoogle

H = [hashlib.sha256(f"customer{i}@example.com".encode()).hexdigest() for i in range(20)]
DESTINATION = {"operatingAccount": {"accountType": "GOOGLE_ADS", "accountId": "1234567890"},
               "loginAccount": {"accountType": 1, "accountId": "9876543210"}, "productDestinationId": "555"}
TERMS = {"customerMatchTermsOfServiceStatus": "ACCEPTED"}


@pytest.fixture
def google() -> Iterator[FakeGoogle]:
    with FakeGoogle() as fake:
        yield fake


def post(google: FakeGoogle, path: str, body: dict[str, Any], token: str = "ya29.fake") -> requests.Response:
    return requests.post(f"{google.base_url}/v1/{path}", json=body, headers={"Authorization": f"Bearer {token}"},
                         timeout=10)


def status(google: FakeGoogle, request_id: str) -> str:
    answer = requests.get(f"{google.base_url}/v1/requestStatus:retrieve", params={"requestId": request_id},
                          headers={"Authorization": "Bearer ya29.fake"}, timeout=10)
    return str(answer.json()["requestStatusPerDestination"][0]["requestStatus"])


def members(*hashes: str) -> list[dict[str, Any]]:
    return [{"userData": {"userIdentifiers": [{"emailAddress": h}]}} for h in hashes]


def reason(answer: requests.Response) -> tuple[int, str]:
    return answer.status_code, answer.json()["error"]["details"][0]["reason"]


def test_ingest_is_applied_once_polled_and_remove_takes_members_out(google: FakeGoogle) -> None:
    answer = post(google, "audienceMembers:ingest", {"destinations": [DESTINATION], "encoding": 1,
                                                     "termsOfService": TERMS, "audienceMembers": members(*H[:5])})
    request_id = answer.json()["requestId"]
    assert google.members("1234567890", "555") == set()  # accepted, not applied
    assert [status(google, request_id), status(google, request_id)] == ["PROCESSING", "SUCCESS"]
    assert google.members("1234567890", "555") == {(("emailAddress", h),) for h in H[:5]}
    removed = post(google, "audienceMembers:remove", {"destinations": [DESTINATION], "encoding": "HEX",
                                                      "audienceMembers": members(*H[:2])}).json()["requestId"]
    status(google, removed), status(google, removed)
    assert google.members("1234567890", "555") == {(("emailAddress", h),) for h in H[2:5]}


def test_consent_is_what_was_sent_never_assumed(google: FakeGoogle) -> None:
    body = {"destinations": [DESTINATION], "encoding": "HEX", "termsOfService": TERMS,
            "consent": {"adUserData": "CONSENT_GRANTED", "adPersonalization": "CONSENT_DENIED"},
            "audienceMembers": [*members(H[0]), {**members(H[1])[0], "consent": {"adUserData": 2}}, *members(H[2])]}
    assert post(google, "audienceMembers:ingest", body).status_code == 200
    assert google.consents[(("emailAddress", H[0]),)] == ("GRANTED", "DENIED")
    assert google.consents[(("emailAddress", H[1]),)] == ("DENIED", None)  # the member's own overrides
    del body["consent"]
    post(google, "audienceMembers:ingest", {**body, "audienceMembers": members(H[3])})
    assert google.consents[(("emailAddress", H[3]),)] == (None, None)


def test_strict_validation_and_limits(google: FakeGoogle) -> None:
    base = {"destinations": [DESTINATION], "encoding": "HEX", "termsOfService": TERMS}
    assert reason(post(google, "audienceMembers:ingest", {**base, "audienceMembers": members("ada@example.com")})) \
        == (400, "INVALID_SHA256_FORMAT")
    assert reason(post(google, "audienceMembers:ingest", {**base, "audienceMembers": members(H[0]) * 10_001})) \
        == (400, "TOO_MANY_AUDIENCE_MEMBERS")
    assert reason(post(google, "audienceMembers:ingest", {**base, "termsOfService": {},
                                                          "audienceMembers": members(H[0])})) \
        == (400, "TERMS_AND_CONDITIONS_NOT_SIGNED")
    no_encoding = {**base, "encoding": None, "audienceMembers": members(H[0])}
    assert reason(post(google, "audienceMembers:ingest", no_encoding)) == (400, "INVALID_ARGUMENT")
    unknown = {**DESTINATION, "productDestinationId": "999"}
    assert reason(post(google, "audienceMembers:ingest", {**base, "destinations": [unknown],
                                                          "audienceMembers": members(H[0])})) \
        == (400, "INVALID_USER_LIST_ID")
    stranger = {**DESTINATION, "loginAccount": {"accountType": "GOOGLE_ADS", "accountId": "111"}}
    assert reason(post(google, "audienceMembers:remove", {**base, "destinations": [stranger],
                                                          "audienceMembers": members(H[0])})) \
        == (403, "OPERATING_ACCOUNT_LOGIN_ACCOUNT_MISMATCH")
    assert reason(post(google, "audienceMembers:ingest", {**base, "audienceMembers": members(H[0])}, token="old")) \
        == (401, "UNAUTHENTICATED")
    google.faults.add(429, kind="ingest")
    assert reason(post(google, "audienceMembers:ingest", {**base, "audienceMembers": members(H[0])})) \
        == (429, "RESOURCE_EXHAUSTED")


def test_remove_all_and_remove_as_of_time(google: FakeGoogle) -> None:
    base = {"destinations": [DESTINATION], "encoding": "HEX", "termsOfService": TERMS}
    first = post(google, "audienceMembers:ingest", {**base, "audienceMembers": members(*H[:3])}).json()["requestId"]
    status(google, first), status(google, first)
    time.sleep(0.01)
    cut = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    second = post(google, "audienceMembers:ingest", {**base, "audienceMembers": members(*H[3:5])}).json()["requestId"]
    status(google, second), status(google, second)
    older = post(google, "audienceMembers:removeAll", {"destinations": [DESTINATION], "removeAsOfTime": cut})
    status(google, older.json()["requestId"]), status(google, older.json()["requestId"])
    assert google.members("1234567890", "555") == {(("emailAddress", h),) for h in H[3:5]}
    everyone = post(google, "audienceMembers:removeAll", {"destinations": [DESTINATION]}).json()["requestId"]
    status(google, everyone), status(google, everyone)
    assert google.members("1234567890", "555") == set()
