"""The Mailchimp sink against the loopback fake: per-member failures, add_missing_as, config, quirks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fake_mailchimp import FakeMailchimp
from rfmsync.connectors.mailchimp.sink import MailchimpSink, MailchimpSinkConfig, subscriber_hash
from rfmsync.connectors.retry import RetryPolicy
from rfmsync.core.diff import Change, ChangeKind
from rfmsync.core.errors import AuthError, PermanentError

LIST = "aud1"


@pytest.fixture
def fake() -> Iterator[FakeMailchimp]:
    with FakeMailchimp(polls_per_state=0) as mailchimp:
        mailchimp.add_list(LIST)
        for i in range(1, 4):
            mailchimp.add_member(LIST, f"c{i}@example.com")
        yield mailchimp


def sink(fake: FakeMailchimp, **config: Any) -> MailchimpSink:
    settings = {"type": "mailchimp", "api_key": fake.api_key, "list_id": LIST, "base_url": fake.base_url,
                "poll_seconds": 0.01, **config}
    result = MailchimpSink(MailchimpSinkConfig.model_validate(settings), retry=RetryPolicy(sleep=lambda _: None),
                           sleep=lambda _: None)
    result.set_segments(["Champions", "At Risk"])
    return result


def entered(key: str, email: str | None, segment: str = "Champions", cell: str = "555") -> Change:
    return Change(key, ChangeKind.ENTERED, None, segment, {"segment": segment, "rfm_cell": cell}, email=email)


def test_subscriber_hash_is_md5_of_the_lowercased_address() -> None:
    assert subscriber_hash(" Ada@Example.COM ") == "3e3417d7ef77d5932a6734b916515ed5"  # md5("ada@example.com")
    assert subscriber_hash("Ada@Example.com") == subscriber_hash("ada@example.com")


def test_per_member_failures_are_rejections_with_safe_reasons(fake: FakeMailchimp) -> None:
    fake.fail_member("c2@example.com")  # "signed up to a lot of lists very recently"
    result = sink(fake).push("b1", [entered("1", "c1@example.com"), entered("2", "c2@example.com"),
                                    entered("4", "c4@example.com"), entered("5", None)])
    assert list(result.accepted) == ["1"]
    assert dict(result.rejected) == {
        "2": "Mailchimp anti-abuse: this address signed up to a lot of lists recently",
        "5": "no email address: Mailchimp members are found by email"}
    assert dict(result.skipped) == {"4": "not a member of the audience (skipped; set add_missing_as to add customers)"}
    assert "example.com" not in " ".join([*result.rejected.values(), *result.skipped.values()])
    assert fake.member(LIST, "c1@example.com")["tags"] == {"RFM: Champions"}


def test_moves_and_leavers_swap_and_drop_the_tag(fake: FakeMailchimp) -> None:
    target = sink(fake)
    target.push("b1", [entered("1", "c1@example.com"), entered("2", "c2@example.com")])
    target.push("b2", [Change("1", ChangeKind.MOVED, "Champions", "At Risk", {"segment": "At Risk", "rfm_cell": "255"},
                              email="c1@example.com"),
                       Change("2", ChangeKind.LEFT, "Champions", None, {}, email="c2@example.com")])
    one, two = fake.member(LIST, "c1@example.com"), fake.member(LIST, "c2@example.com")
    assert one["tags"] == {"RFM: At Risk"} and one["merge_fields"]["RFM_SEG"] == "At Risk"
    assert two["tags"] == set() and two["merge_fields"].get("RFM_SEG", "") == ""
    assert fake.statuses_sent == []


def test_add_missing_as_transactional_never_subscribes(fake: FakeMailchimp) -> None:
    fake.set_status(LIST, "c3@example.com", "unsubscribed")
    result = sink(fake, add_missing_as="transactional").push(
        "b1", [entered("3", "c3@example.com"), entered("9", "new@example.com")])
    assert sorted(result.accepted) == ["3", "9"]
    assert fake.member(LIST, "new@example.com")["status"] == "transactional"
    assert fake.member(LIST, "c3@example.com")["status"] == "unsubscribed"  # status_if_new only creates
    assert fake.members_created == [("new@example.com", "transactional")]
    assert fake.statuses_sent == []


def test_merge_fields_are_created_once_and_others_untouched(fake: FakeMailchimp) -> None:
    fake.add_merge_field(LIST, "RFM_SEG")
    sink(fake).push("b1", [entered("1", "c1@example.com")])
    sink(fake).push("b2", [entered("2", "c2@example.com")])
    assert fake.merge_field_creations == 1  # RFM_CELL only; RFM_SEG existed; the second sink found both
    assert {f["tag"] for f in fake.merge_field_definitions(LIST)} == {"FNAME", "LNAME", "RFM_SEG", "RFM_CELL"}


def test_no_changes_no_requests(fake: FakeMailchimp) -> None:
    assert list(sink(fake).push("b1", []).accepted) == [] and fake.requests == 0


def test_quirks_empty_body_503_and_429_are_retried(fake: FakeMailchimp) -> None:
    fake.fail_next(503, count=1, empty_body=True, kind="GET /lists/{id}/merge-fields")
    fake.fail_next(429, count=1, kind="POST /batches")
    result = sink(fake).push("b1", [entered("1", "c1@example.com")])
    assert list(result.accepted) == ["1"] and fake.injected_failures == 2 and fake.batches_started == 1


def test_wrong_key_is_an_auth_error_naming_no_secret(fake: FakeMailchimp) -> None:
    with pytest.raises(AuthError) as caught:
        sink(fake, api_key="nope-us21").push("b1", [entered("1", "c1@example.com")])
    assert "401 API Key Invalid" in str(caught.value) and "nope" not in str(caught.value)
    assert (caught.value.origin, caught.value.status, caught.value.code) == ("mailchimp", 401, "API Key Invalid")


def test_an_unknown_audience_is_named_from_the_status(fake: FakeMailchimp) -> None:
    with pytest.raises(PermanentError) as caught:
        sink(fake, list_id="nosuchlist").push("b1", [entered("1", "c1@example.com")])
    assert str(caught.value) == "Mailchimp: no audience with list_id 'nosuchlist' (404); check list_id"


def test_a_merge_field_another_process_just_created_is_not_an_error(fake: FakeMailchimp) -> None:
    racing = sink(fake)
    lists = racing.api.client.lists
    create = lists.add_list_merge_field

    def created_meanwhile(list_id: str, body: dict[str, Any]) -> Any:
        fake.add_merge_field(list_id, body["tag"])  # a second sink wins the race
        return create(list_id, body)  # and the fake answers the duplicate with Mailchimp's 400

    lists.add_list_merge_field = created_meanwhile
    result = racing.push("b1", [entered("1", "c1@example.com")])
    assert list(result.accepted) == ["1"] and fake.merge_field_creations == 0
    fake.fail_next(422, count=1, kind="POST /lists/{id}/merge-fields")
    with pytest.raises(PermanentError, match="create merge field RFM_SCORE: 422"):  # any other refusal stops
        sink(fake, merge_fields={"RFM_SCORE": "rfm_score"}).push("b2", [entered("2", "c2@example.com")])


@pytest.mark.parametrize(("fields", "message"), [
    ({"api_key": "nodatacentre"}, "ending in its data centre"),
    ({"merge_fields": {"rfm seg": "segment"}}, "up to 10 capital letters"),
    ({"merge_fields": {"RFM_X": "shoe_size"}}, "unknown field 'shoe_size'"),
    ({"tag_prefix": "  "}, "must not be blank"),
    ({"add_missing_as": "subscribed"}, "Input should be 'transactional'"),
])
def test_config_errors(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MailchimpSinkConfig.model_validate({"type": "mailchimp", "api_key": "k-us21", "list_id": "x", **fields})


def test_config_fields_follow_the_merge_fields() -> None:
    config = MailchimpSinkConfig.model_validate({"type": "mailchimp", "api_key": "k-us21", "list_id": "x",
                                                 "merge_fields": {"RFM_SEG": "segment", "RFM_SCORE": "rfm_score"}})
    assert config.fields == ["segment", "rfm_score"]
    assert "k-us21" not in repr(config)
