"""The Mailchimp fake itself (tests/lib/fake_mailchimp.py), driven with plain `requests` and with the
mailchimp_marketing SDK: what the Mailchimp sink's tests rely on it to do like real Mailchimp
(docs/platforms.md §4)."""

from __future__ import annotations

import io
import json
import tarfile
import threading
import time
from collections.abc import Iterator
from typing import Any

import mailchimp_marketing
import pytest
import requests
from fake_mailchimp import FakeMailchimp
from fake_mailchimp_data import subscriber_hash
from mailchimp_marketing.api_client import ApiClientError

KEY = "fakekey-us21"
LIST = "a1b2c3d4e5"


@pytest.fixture
def fake() -> Iterator[FakeMailchimp]:
    with FakeMailchimp(api_key=KEY) as chimp:
        chimp.add_list(LIST, "Acme")
        yield chimp


def call(fake: FakeMailchimp, method: str, path: str, body: Any = None, *, key: str = KEY,
         **params: str) -> requests.Response:
    return requests.request(method, fake.api_url + path, json=body, params=params or None, auth=("anystring", key),
                            timeout=10)


def sdk(fake: FakeMailchimp, key: str = KEY) -> Any:
    client = mailchimp_marketing.Client()
    client.set_config({"api_key": key, "server": "us21"})
    client.api_client.host = fake.api_url
    return client


def problem(response: requests.Response, status: int, title: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["title"] == title and body["status"] == status
    assert body["type"] == "https://mailchimp.com/developer/marketing/docs/errors/" and body["instance"]
    return body


def member_path(email: str, list_id: str = LIST) -> str:
    return f"/lists/{list_id}/members/{subscriber_hash(email)}"


def op(method: str, path: str, body: Any, operation_id: str) -> dict[str, Any]:
    return {"method": method, "path": path, "operation_id": operation_id, "body": json.dumps(body)}


def run_batch(fake: FakeMailchimp, operations: list[dict[str, Any]]) -> dict[str, Any]:
    started = call(fake, "POST", "/batches", {"operations": operations})
    assert started.status_code == 200, started.text
    batch: dict[str, Any] = started.json()
    while batch["status"] != "finished":
        batch = call(fake, "GET", f"/batches/{batch['id']}").json()
    return batch


def archive_files(url: str) -> list[list[dict[str, Any]]]:
    response = requests.get(url, timeout=10)
    assert response.status_code == 200
    with tarfile.open(fileobj=io.BytesIO(response.content), mode="r:gz") as tar:
        return [json.load(tar.extractfile(m)) for m in tar.getmembers() if m.isfile()]  # type: ignore[arg-type]


# -- basics -----------------------------------------------------------------------------------------
def test_ping_with_requests_and_the_sdk(fake: FakeMailchimp) -> None:
    assert call(fake, "GET", "/ping").json() == {"health_status": "Everything's Chimpy!"}
    assert sdk(fake).ping.get() == {"health_status": "Everything's Chimpy!"}
    assert fake.requests == 2 and fake.requests_by_kind["GET /ping"] == 2 and fake.write_requests == 0


def test_wrong_or_missing_key_is_a_401_problem_the_sdk_does_not_decode(fake: FakeMailchimp) -> None:
    body = problem(call(fake, "GET", "/ping", key="wrong-us21"), 401, "API Key Invalid")
    assert body["detail"] == "Your API key may be invalid, or you've attempted to access the wrong datacenter."
    problem(requests.get(fake.api_url + "/ping", timeout=10), 401, "API Key Missing")
    with pytest.raises(ApiClientError) as caught:
        sdk(fake, "wrong-us21").ping.get()
    assert caught.value.status_code == 401
    assert isinstance(caught.value.text, str)  # problem+json is not decoded by the SDK (docs/platforms.md §4.8)
    assert json.loads(caught.value.text)["title"] == "API Key Invalid"
    assert fake.unauthorized == 3


def test_get_list_with_fields_and_unknown_list(fake: FakeMailchimp) -> None:
    fake.add_member(LIST, "a@example.com")
    fake.add_member(LIST, "b@example.com", status="unsubscribed")
    got = call(fake, "GET", f"/lists/{LIST}", fields="id,name,stats.member_count").json()
    assert got == {"id": LIST, "name": "Acme", "stats": {"member_count": 1}}
    body = problem(call(fake, "GET", "/lists/nope"), 404, "Resource Not Found")
    assert body["detail"] == "The requested resource could not be found."
    with pytest.raises(ApiClientError) as caught:
        sdk(fake).lists.get_list("nope")
    assert caught.value.status_code == 404 and json.loads(caught.value.text)["status"] == 404


def test_merge_field_creation_is_refused_the_second_time(fake: FakeMailchimp) -> None:
    listed = call(fake, "GET", f"/lists/{LIST}/merge-fields", count="1000").json()
    assert [f["tag"] for f in listed["merge_fields"]] == ["FNAME", "LNAME"] and listed["total_items"] == 2
    assert set(listed["merge_fields"][0]) >= {"merge_id", "tag", "name", "type", "required", "list_id"}
    field = {"name": "RFM segment", "tag": "RFM_SEG", "type": "text"}
    created = call(fake, "POST", f"/lists/{LIST}/merge-fields", field)
    assert created.status_code == 200 and created.json()["tag"] == "RFM_SEG" and created.json()["merge_id"] == 3
    again = problem(call(fake, "POST", f"/lists/{LIST}/merge-fields", field), 400, "Invalid Resource")
    assert again["detail"] == 'A Merge Field with the tag "RFM_SEG" already exists for this list.'
    with pytest.raises(ApiClientError) as caught:
        sdk(fake).lists.add_list_merge_field(LIST, field)
    assert caught.value.status_code == 400
    tags = [f["tag"] for f in sdk(fake).lists.get_list_merge_fields(LIST, count=1000)["merge_fields"]]
    assert tags == ["FNAME", "LNAME", "RFM_SEG"]
    assert fake.merge_field_creations == 1 and fake.requests_by_kind["POST /lists/{id}/merge-fields"] == 3


# -- members, directly ------------------------------------------------------------------------------
def test_patch_put_and_tags_directly(fake: FakeMailchimp) -> None:
    fake.add_member(LIST, "Ada@Example.com", tags=["VIP", "RFM: Loyal"], merge_fields={"FNAME": "Ada"})
    fake.add_merge_field(LIST, "RFM_SEG", "RFM segment")
    patched = call(fake, "PATCH", member_path("ada@example.com"), {"merge_fields": {"RFM_SEG": "Champions"}})
    assert patched.status_code == 200
    assert patched.json()["merge_fields"] == {"FNAME": "Ada", "LNAME": "", "RFM_SEG": "Champions"}
    tags = {"tags": [{"name": "RFM: Champions", "status": "active"}, {"name": "RFM: Loyal", "status": "inactive"},
                     {"name": "RFM: Lost", "status": "inactive"}], "is_syncing": True}
    tagged = call(fake, "POST", member_path("ada@example.com") + "/tags", tags)
    assert tagged.status_code == 204 and tagged.content == b""
    assert sdk(fake).lists.update_list_member_tags(LIST, subscriber_hash("ada@example.com"), tags).status_code == 204
    assert fake.member(LIST, "ada@example.com")["tags"] == {"VIP", "RFM: Champions"}
    bad_tag = call(fake, "PATCH", member_path("ada@example.com"), {"merge_fields": {"NOPE": "x"}})
    assert problem(bad_tag, 400, "Invalid Resource")["errors"][0]["field"] == "merge_fields.NOPE"
    upsert = {"email_address": "new@example.com", "status_if_new": "transactional", "merge_fields": {"RFM_SEG": "New"}}
    assert call(fake, "PUT", member_path("new@example.com"), upsert).json()["status"] == "transactional"
    assert fake.status_changes == [("new@example.com", None, "transactional")]
    assert fake.members_created == [("new@example.com", "transactional")] and fake.statuses_sent == []
    assert fake.write_requests == 5 and fake.requests_by_kind["PUT /lists/{id}/members/{hash}"] == 1


def test_member_errors(fake: FakeMailchimp) -> None:
    problem(call(fake, "PATCH", member_path("ghost@example.com"), {"merge_fields": {}}), 404, "Resource Not Found")
    problem(call(fake, "POST", member_path("ghost@example.com") + "/tags", {"tags": []}), 404, "Resource Not Found")
    no_status = call(fake, "PUT", member_path("ghost@example.com"), {"email_address": "ghost@example.com"})
    assert problem(no_status, 400, "Invalid Resource")["errors"][0]["field"] == "status_if_new"
    mismatch = {"email_address": "other@example.com", "status_if_new": "transactional"}
    problem(call(fake, "PUT", member_path("ghost@example.com"), mismatch), 400, "Invalid Resource")
    with pytest.raises(ApiClientError) as caught:
        sdk(fake).lists.update_list_member(LIST, subscriber_hash("ghost@example.com"), {"merge_fields": {}})
    assert caught.value.status_code == 404
    assert not fake.has_member(LIST, "ghost@example.com") and fake.status_changes == []


def test_status_rules_compliance_and_recording(fake: FakeMailchimp) -> None:
    fake.add_member(LIST, "gone@example.com", status="unsubscribed")
    fake.add_member(LIST, "bounced@example.com", status="cleaned")
    fake.add_member(LIST, "sub@example.com")
    refused = call(fake, "PATCH", member_path("gone@example.com"), {"status": "subscribed"})
    assert "compliance state" in problem(refused, 400, "Member In Compliance State")["detail"]
    put = {"email_address": "bounced@example.com", "status_if_new": "subscribed", "status": "subscribed"}
    problem(call(fake, "PUT", member_path("bounced@example.com"), put), 400, "Member In Compliance State")
    assert fake.consent_violations == [("gone@example.com", "unsubscribed", "subscribed"),
                                       ("bounced@example.com", "cleaned", "subscribed")]
    fake.add_merge_field(LIST, "RFM_SEG")
    ok = call(fake, "PATCH", member_path("bounced@example.com"), {"merge_fields": {"RFM_SEG": "Lost"}})
    assert ok.json()["status"] == "cleaned"
    assert call(fake, "PATCH", member_path("sub@example.com"), {"status": "unsubscribed"}).status_code == 200
    assert fake.status_changes == [("sub@example.com", "subscribed", "unsubscribed")]
    assert fake.statuses_sent == [("gone@example.com", "PATCH", "subscribed"),
                                  ("bounced@example.com", "PUT", "subscribed"),
                                  ("sub@example.com", "PATCH", "unsubscribed")]
    fake.set_status(LIST, "sub@example.com", "subscribed")  # a helper, not a request: not recorded
    assert len(fake.status_changes) == 1 and fake.member(LIST, "sub@example.com")["status"] == "subscribed"


def test_fail_member(fake: FakeMailchimp) -> None:
    fake.add_member(LIST, "busy@example.com")
    fake.fail_member("busy@example.com", count=1)
    body = problem(call(fake, "PATCH", member_path("busy@example.com"), {}), 400, "Invalid Resource")
    assert body["detail"].endswith("has signed up to a lot of lists very recently; we're not allowing more "
                                   "signups for now")
    assert call(fake, "PATCH", member_path("busy@example.com"), {}).status_code == 200
    assert fake.member_failures_served == 1


# -- batches ------------------------------------------------------------------------------------------
def test_batch_goes_pending_started_finished_and_applies_at_the_end(fake: FakeMailchimp) -> None:
    fake.add_merge_field(LIST, "RFM_SEG", "RFM segment")
    emails = fake.generate_members(LIST, 60, seed=3, mix={"subscribed": 1.0})
    fake.add_member(LIST, "bounced@example.com", status="cleaned")
    ops = [op("PATCH", member_path(e), {"merge_fields": {"RFM_SEG": "Loyal"}}, f"m{i}") for i, e in enumerate(emails)]
    ops += [op("POST", member_path(e) + "/tags", {"tags": [{"name": "RFM: Loyal", "status": "active"}],
                                                  "is_syncing": True}, f"t{i}") for i, e in enumerate(emails)]
    ops += [op("PATCH", member_path("ghost@example.com"), {"merge_fields": {"RFM_SEG": "x"}}, "ghost"),
            op("PUT", member_path("new@example.com"), {"email_address": "new@example.com",
                                                       "status_if_new": "transactional"}, "new"),
            op("PATCH", member_path("bounced@example.com"), {"merge_fields": {"RFM_SEG": "Lost"}}, "bounced")]
    started = call(fake, "POST", "/batches", {"operations": ops})
    batch = started.json()
    assert batch["status"] == "pending" and batch["total_operations"] == 123 and batch["finished_operations"] == 0
    assert batch["completed_at"] == "" and batch["response_body_url"] == ""
    seen = [call(fake, "GET", f"/batches/{batch['id']}").json() for _ in range(3)]
    assert [b["status"] for b in seen] == ["pending", "started", "finished"]
    assert fake.member(LIST, emails[0])["merge_fields"].get("RFM_SEG") == "Loyal"
    done = seen[-1]
    assert done["finished_operations"] == 123 and done["errored_operations"] == 1 and done["completed_at"]
    assert done["response_body_url"].startswith(f"{fake.base_url}/archives/{batch['id']}.tar.gz?")
    files = archive_files(done["response_body_url"])
    assert [len(f) for f in files] == [100, 23]  # > 100 operations: split over two files
    results = {r["operation_id"]: r for f in files for r in f}
    assert results["t0"] == {"status_code": 204, "operation_id": "t0", "response": ""}
    assert json.loads(results["m0"]["response"])["merge_fields"]["RFM_SEG"] == "Loyal"
    assert json.loads(results["ghost"]["response"])["title"] == "Resource Not Found"
    assert results["ghost"]["status_code"] == 404 and results["new"]["status_code"] == 200
    assert fake.member(LIST, "bounced@example.com")["status"] == "cleaned"
    assert fake.status_changes == [("new@example.com", None, "transactional")]
    assert fake.operations_applied == 123 and fake.batches_started == 1 and fake.archive_downloads == 1
    assert fake.operations_by_kind["POST /lists/{id}/members/{hash}/tags"] == 60
    assert fake.write_requests == 1 and fake.requests_by_kind["GET /batches/{id}"] == 3
    assert fake.requests_by_kind["GET archive"] == 1
    with_auth = requests.get(done["response_body_url"], auth=("u", KEY), timeout=10)
    assert with_auth.status_code == 400 and b"Only one auth mechanism" in with_auth.content
    assert requests.get(done["response_body_url"].split("?")[0], timeout=10).status_code == 403


def test_batch_through_the_sdk_and_an_unsubscribe_during_the_run(fake: FakeMailchimp) -> None:
    fake.add_merge_field(LIST, "RFM_SEG")
    fake.add_member(LIST, "ada@example.com")
    client = sdk(fake)
    batch = client.batches.start({"operations": [
        op("PATCH", member_path("ada@example.com"), {"merge_fields": {"RFM_SEG": "At Risk"}}, "ada")]})
    fake.set_status(LIST, "ada@example.com", "unsubscribed")  # the contact unsubscribes meanwhile
    while batch["status"] != "finished":
        batch = client.batches.status(batch["id"])
    assert batch["errored_operations"] == 0
    assert fake.member(LIST, "ada@example.com") == {
        "id": subscriber_hash("ada@example.com"), "email_address": "ada@example.com", "status": "unsubscribed",
        "tags": set(), "merge_fields": {"RFM_SEG": "At Risk"}}
    assert fake.status_changes == [] and fake.batch_polls == 3


def test_batch_body_must_be_a_string_and_pending_batches_are_capped() -> None:
    with FakeMailchimp(max_pending_batches=2, polls_per_state=2, batch_states=("pending", "preprocessing",
                                                                               "started", "finalizing")) as fake:
        fake.add_list(LIST)
        bad = {"operations": [{"method": "PATCH", "path": member_path("a@example.com"), "body": {"x": 1}}]}
        body = problem(call(fake, "POST", "/batches", bad), 400, "Invalid Resource")
        assert body["errors"] == [{"field": "operations.item:0.body",
                                   "message": "Schema describes string, object found instead"}]
        first = call(fake, "POST", "/batches", {"operations": []}).json()
        call(fake, "POST", "/batches", {"operations": []})
        problem(call(fake, "POST", "/batches", {"operations": []}), 429, "Too Many Requests")
        statuses = [call(fake, "GET", f"/batches/{first['id']}").json()["status"] for _ in range(9)]
        assert statuses == ["pending"] * 2 + ["preprocessing"] * 2 + ["started"] * 2 + ["finalizing"] * 2 + ["finished"]
        assert call(fake, "POST", "/batches", {"operations": []}).status_code == 200
        assert fake.batches_started == 3 and fake.batches_rejected == 1 and fake.pending_batches == 2
        empty = archive_files(call(fake, "GET", f"/batches/{first['id']}").json()["response_body_url"])
        assert empty == [[]]


def test_batch_subscribe(fake: FakeMailchimp) -> None:
    fake.add_member(LIST, "old@example.com", status="unsubscribed")
    body = {"members": [{"email_address": "new@example.com", "status": "transactional"},
                        {"email_address": "old@example.com", "status": "subscribed"}], "update_existing": True}
    got = call(fake, "POST", f"/lists/{LIST}", body).json()
    assert got["total_created"] == 1 and got["error_count"] == 1 and "compliance" in got["errors"][0]["error"]
    assert fake.status_changes == [("new@example.com", None, "transactional")]
    assert fake.statuses_sent == [("new@example.com", "POST", "transactional"),
                                  ("old@example.com", "POST", "subscribed")]
    assert call(fake, "DELETE", member_path("new@example.com")).status_code == 204
    back = {"email_address": "new@example.com", "status_if_new": "transactional"}
    assert call(fake, "PUT", member_path("new@example.com"), back).json()["status"] == "transactional"
    assert fake.status_changes[1:] == [("new@example.com", "transactional", "archived"),
                                       ("new@example.com", "archived", "transactional")]


# -- faults, counters ----------------------------------------------------------------------------------
def test_injected_429_and_empty_503(fake: FakeMailchimp) -> None:
    fake.fail_next(429)
    problem(call(fake, "GET", "/ping"), 429, "Too Many Requests")
    fake.fail_next(503, empty_body=True)
    response = sdk(fake).ping.get()  # an empty body is returned, not raised (docs/platforms.md §4.8)
    assert isinstance(response, requests.Response) and response.status_code == 503 and response.content == b""
    fake.fail_next(500, count=2, kind="POST /batches")
    assert call(fake, "GET", "/ping").status_code == 200
    with pytest.raises(ApiClientError) as caught:
        sdk(fake).batches.start({"operations": []})
    assert caught.value.status_code == 500 and json.loads(caught.value.text)["title"] == "Internal Server Error"
    assert call(fake, "POST", "/batches", {"operations": []}).status_code == 500
    assert call(fake, "POST", "/batches", {"operations": []}).status_code == 200
    assert fake.injected_failures == 4 and fake.batches_started == 1 and fake.write_requests == 3


def test_max_concurrent_counts_simultaneous_requests() -> None:
    with FakeMailchimp(latency=0.05) as fake:
        for _ in range(3):
            call(fake, "GET", "/ping")
        assert fake.max_concurrent == 1
        barrier = threading.Barrier(6)

        def worker() -> None:
            barrier.wait()
            call(fake, "GET", "/ping")

        threads = [threading.Thread(target=worker) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert 2 <= fake.max_concurrent <= 6 and fake.in_flight == 0 and fake.requests == 9


def test_generate_100k_members_quickly_and_deterministically(fake: FakeMailchimp) -> None:
    t0 = time.perf_counter()
    emails = fake.generate_members(LIST, 100_000, seed=7, tag_pool=["VIP"])
    assert time.perf_counter() - t0 < 3
    assert emails[0] == "customer1@example.com" and len(emails) == 100_000
    statuses = [fake.member(LIST, e)["status"] for e in emails[:2000]]
    assert 0.8 < statuses.count("subscribed") / 2000 < 0.97 and "cleaned" in statuses
    with FakeMailchimp() as other:
        other.add_list(LIST)
        again = other.generate_members(LIST, 2000, seed=7, tag_pool=["VIP"])
        assert [other.member(LIST, e)["status"] for e in again] == statuses


def test_unsupported_request_is_a_fake_failure() -> None:
    fake = FakeMailchimp().start()
    assert call(fake, "GET", "/campaigns").status_code == 404
    with pytest.raises(AssertionError, match="unsupported request"):
        fake.close()
