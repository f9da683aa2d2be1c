"""The Shopify fake itself (tests/lib/fake_shopify.py), driven with plain `requests`: what the
Shopify connector's tests rely on it to do like real Shopify (docs/platforms.md §1)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from fake_shopify import INVALID_TOKEN, FakeShopify

NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
TOKEN = "shpat_static"
ORDER_FIELDS = ("id name createdAt updatedAt cancelledAt test email sourceName displayFinancialStatus "
                "currentTotalPriceSet { shopMoney { amount currencyCode } } "
                "customer { id defaultEmailAddress { emailAddress } }")
ORDERS = ("query Orders($first: Int!, $after: String, $query: String) {\n"
          "  orders(first: $first, after: $after, sortKey: UPDATED_AT, query: $query) {\n"
          f"    pageInfo {{ hasNextPage endCursor }}\n    nodes {{ {ORDER_FIELDS} }}\n  }}\n}}")
POLL = ("query Poll($id: ID!) { bulkOperation(id: $id) { id status errorCode objectCount rootObjectCount "
        "fileSize url partialDataUrl createdAt completedAt } }")


@pytest.fixture
def fake() -> Iterator[FakeShopify]:
    with FakeShopify(now=NOW, time_scale=0) as shop:
        yield shop


def post(fake: FakeShopify, query: str, variables: dict[str, Any] | None = None, *, token: str = TOKEN,
         version: str = "2026-01") -> requests.Response:
    return requests.post(fake.graphql_url(version), json={"query": query, "variables": variables},
                         headers={"X-Shopify-Access-Token": token}, timeout=10)


def page(fake: FakeShopify, first: int, after: str | None = None, query: str | None = None) -> dict[str, Any]:
    response = post(fake, ORDERS, {"first": first, "after": after, "query": query})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def ids(body: dict[str, Any]) -> list[int]:
    return [int(n["id"].rsplit("/", 1)[1]) for n in body["data"]["orders"]["nodes"]]


def test_three_pages_of_two_in_updated_order_with_opaque_cursors(fake: FakeShopify) -> None:
    fake.add_order(id=1001, updatedAt="2026-10-31T23:59:59Z", createdAt="2026-10-01T10:00:00Z")  # filtered out
    for number, updated in [(1002, "03:00:00"), (1003, "05:00:00"), (1004, "03:00:00"), (1005, "04:00:00"),
                            (1006, "09:00:00"), (1007, "04:30:00")]:
        fake.add_order(id=number, createdAt="2026-10-01T10:00:00Z", updatedAt=f"2026-11-01T{updated}Z",
                       amount="55.00", customer=77, customer_email="ada@example.com")
    seen, after, costs = [], None, []
    for expected_more in (True, True, False):
        body = page(fake, 2, after, "updated_at:>='2026-11-01T03:00:00Z'")
        info = body["data"]["orders"]["pageInfo"]
        assert info["hasNextPage"] is expected_more
        assert "gid://" not in info["endCursor"]
        seen.append(ids(body))
        costs.append(body["extensions"]["cost"])
        after = info["endCursor"]
    assert seen == [[1002, 1004], [1005, 1007], [1003, 1006]]  # updatedAt, then id on a tie
    assert [(c["requestedQueryCost"], c["actualQueryCost"]) for c in costs] == [(4, 4)] * 3
    assert [c["throttleStatus"]["currentlyAvailable"] for c in costs] == [996, 992, 988]
    assert costs[0]["throttleStatus"]["maximumAvailable"] == 1000.0 and costs[0]["throttleStatus"]["restoreRate"] == 50
    node = page(fake, 1, None, "updated_at:>='2026-11-01T03:00:00Z'")["data"]["orders"]["nodes"][0]
    assert node == {"id": "gid://shopify/Order/1002", "name": "#1002", "createdAt": "2026-10-01T10:00:00Z",
                    "updatedAt": "2026-11-01T03:00:00Z", "cancelledAt": None, "test": False,
                    "email": "ada@example.com", "sourceName": "web", "displayFinancialStatus": "PAID",
                    "currentTotalPriceSet": {"shopMoney": {"amount": "55.00", "currencyCode": "EUR"}},
                    "customer": {"id": "gid://shopify/Customer/77",
                                 "defaultEmailAddress": {"emailAddress": "ada@example.com"}}}
    # An update moves the order behind the last cursor, as on Shopify: the next pull sees it again.
    fake.advance(3600)
    fake.update_order(1002, displayFinancialStatus="REFUNDED")
    assert ids(page(fake, 5, after, "updated_at:>='2026-11-01T03:00:00Z'")) == [1002]
    assert fake.versions_seen == {"2026-01"}
    assert fake.searches == ["updated_at:>='2026-11-01T03:00:00Z'"] * 5


def test_edges_aliases_and_an_empty_page(fake: FakeShopify) -> None:
    fake.add_order(id=5)
    query = ("query($first: Int!) { list: orders(first: $first) { edges { cursor node { key: id } } "
             "pageInfo { hasNextPage startCursor endCursor } } }")
    body = post(fake, query, {"first": 10}).json()
    edge = body["data"]["list"]["edges"][0]
    assert edge["node"] == {"key": "gid://shopify/Order/5"}
    assert body["data"]["list"]["pageInfo"]["endCursor"] == edge["cursor"]
    empty = page(fake, 10, None, "updated_at:>='2030-01-01T00:00:00Z'")
    assert empty["data"]["orders"] == {"pageInfo": {"hasNextPage": False, "endCursor": None}, "nodes": []}
    assert empty["extensions"]["cost"]["actualQueryCost"] == 2


def test_quoted_time_is_exact_unquoted_keeps_only_the_date(fake: FakeShopify) -> None:
    for number, updated in [(1, "2026-10-31T23:00:00Z"), (2, "2026-11-01T02:00:00Z"), (3, "2026-11-01T03:00:00Z"),
                            (4, "2026-11-01T04:00:00Z")]:
        fake.add_order(id=number, createdAt="2026-10-01T00:00:00Z", updatedAt=updated)
    assert ids(page(fake, 50, None, "updated_at:>='2026-11-01T03:00:00Z'")) == [3, 4]
    assert ids(page(fake, 50, None, 'updated_at:>"2026-11-01T03:00:00Z"')) == [4]
    assert ids(page(fake, 50, None, "updated_at:>=2026-11-01T03:00:00Z")) == [2, 3, 4]  # time part ignored
    assert ids(page(fake, 50, None, "updated_at:<'2026-11-01T03:00:00Z' AND status:any")) == [1, 2]
    assert fake.ignored_search_terms == ["status:any"]


def test_bad_requests_are_graphql_errors_and_cost_nothing(fake: FakeShopify) -> None:
    too_many = post(fake, ORDERS, {"first": 251, "after": None, "query": None})
    assert too_many.status_code == 200
    assert too_many.json()["errors"][0]["extensions"]["code"] == "MAX_PAGE_SIZE"
    assert "cannot exceed 250" in too_many.json()["errors"][0]["message"]
    deprecated = post(fake, "{ orders(first: 5) { nodes { customer { email } } } }").json()
    assert deprecated["errors"][0]["message"] == "Field 'email' doesn't exist on type 'Customer'"
    bad_cursor = post(fake, ORDERS, {"first": 5, "after": "bm9wZQ==", "query": None}).json()
    assert bad_cursor["errors"][0]["message"] == "Invalid cursor for current pagination sort."
    assert fake.available == 1000.0 and fake.points_charged == 0


def test_throttled_with_200_then_success_after_the_restore(fake: FakeShopify) -> None:
    fake.set_available(10)
    throttled = post(fake, ORDERS, {"first": 50, "after": None, "query": None})
    assert throttled.status_code == 200
    body = throttled.json()
    assert "data" not in body
    assert body["errors"] == [{"message": "Throttled", "extensions": {
        "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}]
    cost = body["extensions"]["cost"]
    assert cost == {"requestedQueryCost": 52, "actualQueryCost": None,
                    "throttleStatus": {"maximumAvailable": 1000.0, "currentlyAvailable": 10, "restoreRate": 50.0}}
    fake.advance((52 - 10) / 50)  # exactly the documented back-off
    ok = post(fake, ORDERS, {"first": 50, "after": None, "query": None}).json()
    assert ok["extensions"]["cost"]["actualQueryCost"] == 2
    assert ok["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 50
    assert (fake.throttled, fake.throttled_in_a_row) == (1, 0)
    # A client that retries without waiting: both count, the second also as "in a row".
    fake.set_available(0)
    for _ in range(2):
        assert post(fake, ORDERS, {"first": 250, "after": None, "query": None}).json()["errors"][0]["message"] == \
            "Throttled"
    assert (fake.throttled, fake.throttled_in_a_row, fake.min_available) == (3, 1, 0)
    assert fake.requests == 4


@pytest.mark.parametrize("mode, statuses", [(429, [429, 429]), ("alternate", [200, 429])])
def test_throttled_with_429_and_retry_after(mode: int | str, statuses: list[int]) -> None:
    with FakeShopify(now=NOW, time_scale=0, throttle_status=mode, maximum_available=100, restore_rate=10) as fake:
        fake.set_available(0)
        answers = [post(fake, "{ shop { name } }") for _ in statuses]
        assert [a.status_code for a in answers] == statuses
        for a in answers:
            assert a.json()["errors"][0]["extensions"]["code"] == "THROTTLED"
            assert (a.headers.get("Retry-After") == "1") is (a.status_code == 429)
        fake.advance(0.1)  # 1 point at 10/s
        assert post(fake, "{ shop { name currencyCode } }").json()["data"]["shop"] == {
            "name": "Fake Shop", "currencyCode": "EUR"}
        too_big = post(fake, ORDERS, {"first": 250, "after": None, "query": None}).json()
        assert too_big["errors"][0]["extensions"]["code"] == "MAX_COST_EXCEEDED"


def test_the_bucket_restores_in_scaled_real_time() -> None:
    with FakeShopify(now=NOW, time_scale=200.0) as fake:
        fake.set_available(0)
        time.sleep(0.05)  # 10 fake seconds: 500 points
        assert 400 <= fake.available <= 1000
        time.sleep(0.1)
        assert fake.available == 1000.0  # capped at maximumAvailable


def test_injected_502s_then_normal_answers(fake: FakeShopify) -> None:
    fake.fail_next(502, count=2)
    fake.fail_at_request(4, 503)
    statuses = [post(fake, "{ shop { name } }") for _ in range(5)]
    assert [r.status_code for r in statuses] == [502, 502, 200, 503, 200]
    assert statuses[0].headers["Content-Type"] == "text/html"
    assert "502 Bad Gateway" in statuses[0].text
    assert (fake.requests, fake.injected_failures, fake.points_charged) == (5, 3, 2)


def test_token_exchange_expiry_and_401() -> None:
    with FakeShopify(now=NOW, time_scale=0, client_id="app", client_secret="s3cret", token_ttl=3600) as fake:
        wrong = requests.post(fake.token_url, data={"grant_type": "client_credentials", "client_id": "app",
                                                    "client_secret": "nope"}, timeout=10)
        assert wrong.status_code == 400
        assert wrong.json() == {"error": "invalid_client", "error_description": "Client authentication failed"}
        issued = requests.post(fake.token_url, data={"grant_type": "client_credentials", "client_id": "app",
                                                     "client_secret": "s3cret"}, timeout=10).json()
        assert issued["access_token"].startswith("shpat_")
        assert (issued["scope"], issued["expires_in"]) == ("read_orders,read_all_orders", 3600)
        assert post(fake, "{ shop { name } }", token=issued["access_token"]).status_code == 200
        fake.advance(3599)
        assert post(fake, "{ shop { name } }", token=issued["access_token"]).status_code == 200
        fake.advance(2)
        expired = post(fake, "{ shop { name } }", token=issued["access_token"])
        assert expired.status_code == 401
        assert expired.json() == {"errors": INVALID_TOKEN}
        assert post(fake, "{ shop { name } }", token="shpat_never_issued").status_code == 401
        assert (fake.token_exchanges, fake.token_exchange_failures, fake.unauthorized) == (1, 1, 2)


def test_access_denied_and_a_60_day_history() -> None:
    with FakeShopify(now=NOW, time_scale=0, access_denied_for_orders=True) as fake:
        body = post(fake, ORDERS, {"first": 5, "after": None, "query": None}).json()
        assert body["data"] is None
        assert body["errors"][0]["extensions"]["code"] == "ACCESS_DENIED"
        assert body["errors"][0]["message"].startswith("Access denied for orders field.")
    with FakeShopify(now=NOW, time_scale=0, history_days=60) as fake:
        fake.add_order(id=1, createdAt="2026-09-15T11:00:00Z")  # 61 days before NOW: hidden
        fake.add_order(id=2, createdAt="2026-09-17T12:00:00Z")
        assert ids(page(fake, 5)) == [2]
        assert fake.scope == "read_orders"


def bulk_run(fake: FakeShopify, args: str = "", fields: str = ORDER_FIELDS) -> dict[str, Any]:
    inner = f"{{ orders{args} {{ edges {{ node {{ {fields} }} }} }} }}"
    mutation = (f'mutation {{ bulkOperationRunQuery(query: """{inner}""", groupObjects: false) {{ '
                "bulkOperation { id status } userErrors { field message } } }")
    body: dict[str, Any] = post(fake, mutation).json()
    return body


def poll(fake: FakeShopify, gid: str = "gid://shopify/BulkOperation/1") -> dict[str, Any]:
    body: dict[str, Any] = post(fake, POLL, {"id": gid}).json()
    return body


def test_a_bulk_operation_runs_to_completed_and_serves_its_jsonl(fake: FakeShopify) -> None:
    fake.add_order(id=1001, updatedAt="2026-10-20T00:00:00Z", createdAt="2026-10-01T00:00:00Z")
    fake.add_order(id=1002, updatedAt="2026-11-02T00:00:00Z", createdAt="2026-10-01T00:00:00Z",
                   amount="12.50", customer=9, customer_email="bo@example.com")
    fake.add_order(id=1003, updatedAt="2026-11-03T00:00:00Z", createdAt="2026-10-02T00:00:00Z", email="g@x.test")
    started = bulk_run(fake, "(query: \"updated_at:>='2026-11-01T00:00:00Z'\")")
    assert started["data"]["bulkOperationRunQuery"] == {
        "bulkOperation": {"id": "gid://shopify/BulkOperation/1", "status": "CREATED"}, "userErrors": []}
    assert started["extensions"]["cost"]["actualQueryCost"] == 10
    busy = bulk_run(fake)["data"]["bulkOperationRunQuery"]
    assert busy == {"bulkOperation": None, "userErrors": [
        {"field": None, "message": "A bulk query operation for this app and shop is already in progress"}]}
    polls = [poll(fake) for _ in range(5)]
    assert [p["data"]["bulkOperation"]["status"] for p in polls] == ["CREATED", "CREATED", "RUNNING", "RUNNING",
                                                                     "COMPLETED"]
    assert polls[0]["extensions"]["cost"]["actualQueryCost"] == 1
    done = polls[-1]["data"]["bulkOperation"]
    assert (done["errorCode"], done["objectCount"], done["rootObjectCount"], done["partialDataUrl"]) == \
        (None, "2", "2", None)
    assert done["url"].startswith(fake.base_url + "/bulk/") and done["completedAt"] == "2026-11-15T12:00:00Z"
    download = requests.get(done["url"], timeout=10)  # no token, like a signed storage URL
    assert download.status_code == 200 and int(done["fileSize"]) == len(download.content)
    lines = [json.loads(line) for line in download.text.splitlines()]
    assert [line["id"] for line in lines] == ["gid://shopify/Order/1002", "gid://shopify/Order/1003"]
    assert lines[0]["customer"] == {"id": "gid://shopify/Customer/9",
                                    "defaultEmailAddress": {"emailAddress": "bo@example.com"}}
    assert lines[1]["customer"] is None and "__parentId" not in lines[0]
    assert (fake.bulk_runs, fake.bulk_rejected, fake.bulk_polls, fake.bulk_downloads, fake.bulk_bytes_served) == \
        (1, 1, 5, 1, len(download.content))
    assert bulk_run(fake)["data"]["bulkOperationRunQuery"]["userErrors"] == []  # the slot is free again
    assert poll(fake, "gid://shopify/BulkOperation/99")["data"] == {"bulkOperation": None}
    fake.expire_bulk_urls()
    expired = requests.get(done["url"], timeout=10)
    assert expired.status_code == 403 and "<Code>ExpiredToken</Code>" in expired.text


def test_bulk_failed_with_partial_data_and_expired_without_url() -> None:
    with FakeShopify(now=NOW, time_scale=0, bulk_polls_per_status=0) as fake:
        fake.generate_orders(5, customers=3, seed=1)
        fake.next_bulk_outcome("FAILED", partial_lines=2)
        fake.next_bulk_outcome("EXPIRED")
        bulk_run(fake, fields="id")
        failed = poll(fake)["data"]["bulkOperation"]
        assert (failed["status"], failed["errorCode"], failed["url"], failed["objectCount"]) == \
            ("FAILED", "INTERNAL_SERVER_ERROR", None, "2")
        partial = requests.get(failed["partialDataUrl"], timeout=10)
        assert [json.loads(line) for line in partial.text.splitlines()] == [
            {"id": "gid://shopify/Order/1001"}, {"id": "gid://shopify/Order/1002"}]
        bulk_run(fake, fields="id")
        expired = poll(fake, "gid://shopify/BulkOperation/2")["data"]["bulkOperation"]
        assert (expired["status"], expired["url"], expired["partialDataUrl"]) == ("EXPIRED", None, None)


def test_a_bulk_query_with_an_unknown_field_is_a_user_error(fake: FakeShopify) -> None:
    errors = bulk_run(fake, fields="id customer { email }")["data"]["bulkOperationRunQuery"]["userErrors"]
    assert errors == [{"field": ["query"], "message": "Invalid bulk query: Field 'email' doesn't exist on type "
                                                      "'Customer'"}]
    assert fake.bulk_runs == 0


def test_200000_orders_generate_quickly_and_page(fake: FakeShopify) -> None:
    started = time.perf_counter()
    orders = fake.generate_orders(200_000, customers=20_000, seed=7)
    assert time.perf_counter() - started < 10
    assert len(orders) == 200_000 and orders[0]["id"] == "gid://shopify/Order/1001"
    assert 0.01 < sum(o["customer"] is None for o in orders) / len(orders) < 0.05
    assert 0.01 < sum(o["cancelledAt"] is not None for o in orders) / len(orders) < 0.03
    assert all(o["updatedAt"] >= o["createdAt"] for o in orders[:1000])
    body = page(fake, 250, None, "updated_at:>='2026-11-01T00:00:00Z'")
    assert len(body["data"]["orders"]["nodes"]) == 250 and body["data"]["orders"]["pageInfo"]["hasNextPage"]


def test_a_bulk_query_in_a_variable_and_current_bulk_operation(fake: FakeShopify) -> None:
    fake.add_order(id=7, updatedAt="2026-11-02T00:00:00Z")
    fake.add_order(id=8, updatedAt="2026-10-02T00:00:00Z")
    mutation = ("mutation Run($q: String!) { bulkOperationRunQuery(query: $q, groupObjects: false) { "
                "bulkOperation { id } userErrors { message } } }")
    inner = "{ orders(query: \"updated_at:>'2026-11-01T00:00:00Z'\") { nodes { id } } }"
    assert post(fake, mutation, {"q": inner}).json()["data"]["bulkOperationRunQuery"]["userErrors"] == []
    current = "{ currentBulkOperation { id status url } }"
    statuses = [post(fake, current).json()["data"]["currentBulkOperation"]["status"] for _ in range(5)]
    assert statuses[-1] == "COMPLETED"
    url = post(fake, current).json()["data"]["currentBulkOperation"]["url"]
    assert requests.get(url, timeout=10).text == '{"id":"gid://shopify/Order/7"}\n'
    assert fake.searches == ["updated_at:>'2026-11-01T00:00:00Z'"]


def test_an_unsupported_request_fails_the_test_at_close() -> None:
    fake = FakeShopify(now=NOW, time_scale=0).start()
    try:
        answer = post(fake, "{ orders(first: 5, reverse: true) { nodes { id } } }")
        assert answer.status_code == 500
        assert "reverse" in fake.failures[0]
    finally:
        with pytest.raises(AssertionError, match="fake_shopify failed on a request"):
            fake.close()
