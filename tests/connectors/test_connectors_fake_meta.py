"""The Meta fake behaves like Graph where the ad sinks depend on it (docs/platforms.md §6.6)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from fake_meta import FakeMeta

H = [hashlib.sha256(f"customer{i}@example.com".encode()).hexdigest() for i in range(400)]


@pytest.fixture
def meta() -> Iterator[FakeMeta]:
    with FakeMeta() as fake:
        yield fake


def call(meta: FakeMeta, method: str, path: str, params: dict[str, Any], token: str = "meta-token",
         in_url: bool = False) -> requests.Response:
    encoded = {k: json.dumps(v) if isinstance(v, dict | list) else str(v) for k, v in params.items()}
    headers = {} if in_url else {"Authorization": f"Bearer {token}"}
    query = {"access_token": token} if in_url else {}  # as the Meta SDK sends it: the trap to count
    url = f"{meta.base_url}/v26.0/{path}"
    if method == "DELETE":
        return requests.delete(url, params={**encoded, **query}, headers=headers, timeout=10)
    return requests.post(url, data=encoded, params=query, headers=headers, timeout=10)


def create(meta: FakeMeta, name: str = "RFM: Champions") -> str:
    answer = call(meta, "POST", "act_100/customaudiences",
                  {"name": name, "subtype": "CUSTOM", "customer_file_source": "USER_PROVIDED_ONLY"})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["id"])


def error(answer: requests.Response) -> tuple[int, int, int | None]:
    body = answer.json()["error"]
    return answer.status_code, body["code"], body.get("error_subcode")


def test_add_and_remove_hashed_members_and_count_raw_values_as_invalid(meta: FakeMeta) -> None:
    audience = create(meta)
    added = call(meta, "POST", f"{audience}/users",
                 {"payload": {"schema": "EMAIL_SHA256", "data": [*H[:5], "ada@example.com"]}})
    assert added.json()["num_received"] == 6 and added.json()["num_invalid_entries"] == 1
    assert meta.members(audience) == {(h,) for h in H[:5]}
    removed = call(meta, "DELETE", f"{audience}/users", {"payload": {"schema": "EMAIL_SHA256", "data": H[:2]}})
    assert removed.status_code == 200 and meta.members(audience) == {(h,) for h in H[2:5]}
    multi = call(meta, "POST", f"{audience}/users", {"payload": {"schema": ["EMAIL", "PHONE"],
                                                                "data": [[H[10], ""], ["", H[11]], ["", ""]]}})
    assert multi.json()["num_invalid_entries"] == 1 and (H[10], "") in meta.members(audience)


def test_limits_tokens_and_unknown_objects(meta: FakeMeta) -> None:
    audience = create(meta)
    too_many = call(meta, "POST", f"{audience}/users", {"payload": {"schema": "EMAIL_SHA256", "data": [H[0]] * 10_001}})
    assert error(too_many) == (400, 100, None)
    assert error(call(meta, "POST", f"{audience}/users", {"payload": {"schema": "EMAIL_SHA256", "data": H[:1]}},
                      token="revoked")) == (400, 190, None)
    assert error(call(meta, "POST", "act_999/customaudiences", {"name": "x", "subtype": "CUSTOM",
                                                                 "customer_file_source": "USER_PROVIDED_ONLY"})) \
        == (400, 100, 33)
    call(meta, "POST", f"{audience}/users", {"payload": {"schema": "EMAIL_SHA256", "data": H[:1]}}, in_url=True)
    assert meta.tokens_in_urls == 1
    with pytest.raises(requests.exceptions.ConnectionError):  # 400 hashes in a DELETE's URL: Graph hangs up
        call(meta, "DELETE", f"{audience}/users", {"payload": {"schema": "EMAIL_SHA256", "data": H[:400]}})


def test_throttle_flagged_audience_replace_sessions_and_lookalikes(meta: FakeMeta) -> None:
    audience = create(meta)
    meta.throttle_next()
    assert error(call(meta, "POST", f"{audience}/users", {"payload": {"schema": "EMAIL_SHA256", "data": H[:1]}})) \
        == (400, 80003, None)
    meta.audiences[audience].operation_status = 471
    assert error(call(meta, "POST", f"{audience}/users", {"payload": {"schema": "EMAIL_SHA256", "data": H[:1]}})) \
        == (400, 100, 1713230)
    meta.audiences[audience].operation_status = 200
    call(meta, "POST", f"{audience}/users", {"payload": {"schema": "EMAIL_SHA256", "data": H[:50]}})
    late = call(meta, "POST", f"{audience}/usersreplace", {"payload": {"schema": "EMAIL_SHA256", "data": H[:1]},
                                                           "session": {"session_id": 7, "batch_seq": 2}})
    assert error(late) == (400, 2650, 1870147)
    for seq, chunk in ((1, H[100:150]), (2, H[150:220])):
        call(meta, "POST", f"{audience}/usersreplace", {"payload": {"schema": "EMAIL_SHA256", "data": chunk},
                                                        "session": {"session_id": 8, "batch_seq": seq,
                                                                    "last_batch_flag": seq == 2}})
    assert meta.members(audience) == {(h,) for h in H[100:220]}
    spec = {"ratio": 0.01, "country": "DE"}
    small = meta.add_audience("small", members=99)
    assert error(call(meta, "POST", "act_100/customaudiences", {
        "name": "LAL", "subtype": "LOOKALIKE", "origin_audience_id": small.id, "lookalike_spec": spec}))[1] == 100
    made = call(meta, "POST", "act_100/customaudiences", {"name": "LAL", "subtype": "LOOKALIKE",
                                                          "origin_audience_id": audience, "lookalike_spec": spec})
    assert made.status_code == 200 and meta.audiences[made.json()["id"]].origin == audience
    again = call(meta, "POST", "act_100/customaudiences", {"name": "LAL 2", "subtype": "LOOKALIKE",
                                                           "origin_audience_id": audience, "lookalike_spec": spec})
    assert error(again)[1] == 2654
    assert meta.versions_seen == {"v26.0"}
