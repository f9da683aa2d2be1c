"""Ad members of customers known by several emails and phones (a web shop and a point of sale)."""

from __future__ import annotations

from rfmsync.connectors.ad_members import MAX_EACH, member_of, parse
from rfmsync.connectors.base import Contact
from rfmsync.connectors.google.sink import _member
from rfmsync.connectors.identifiers import google_email, meta_email, sha256_hex
from rfmsync.connectors.meta.sink import _rows


def phone_de(value: str | None) -> str | None:
    from rfmsync.connectors.identifiers import e164

    return e164(value, "DE")


WEB_AND_SHOP = Contact("Ada@Example.com", "+4915112345678", True, True,
                       other_emails=("ada.old@example.com", "not an email"), other_phones=("030 1234567",))


def test_every_email_and_phone_is_sent_hashed_newest_first() -> None:
    member = member_of(WEB_AND_SHOP, consent_required=True, email=meta_email, phone=phone_de)
    assert member is not None and member.consent is True
    assert member.email_hashes == (sha256_hex("ada@example.com"), sha256_hex("ada.old@example.com"))
    assert member.phone_hashes == (sha256_hex("+4915112345678"), sha256_hex("+49301234567"))
    assert parse(member.text()) == member
    # Meta: one row per identifier pair; Google: every identifier on the one member.
    assert _rows(member.hashes()) == [[member.email_hashes[0], member.phone_hashes[0]],
                                      [member.email_hashes[1], member.phone_hashes[1]]]
    assert _member(member.text(), with_consent=False)["userData"]["userIdentifiers"] == [
        {"emailAddress": member.email_hashes[0]}, {"emailAddress": member.email_hashes[1]},
        {"phoneNumber": member.phone_hashes[0]}, {"phoneNumber": member.phone_hashes[1]}]


def test_consent_applies_to_all_of_a_kind_and_a_single_identifier_keeps_its_old_text() -> None:
    no_sms = Contact("ada@example.com", "+4915112345678", True, False, other_phones=("+49301234567",))
    member = member_of(no_sms, consent_required=True, email=google_email, phone=phone_de)
    assert member is not None and member.phone_hashes == () and len(member.email_hashes) == 1
    # One email and one phone: the text customers of one source had before (no re-send on upgrade).
    single = member_of(Contact("a@example.com", "+4915112345678", True, True), consent_required=True,
                       email=meta_email, phone=phone_de)
    assert single is not None
    assert single.text() == f"e={sha256_hex('a@example.com')};p={sha256_hex('+4915112345678')};c=1"
    many = Contact("a0@example.com", None, True, None, other_emails=tuple(f"a{i}@example.com" for i in range(1, 9)))
    capped = member_of(many, consent_required=True, email=meta_email, phone=phone_de)
    assert capped is not None and len(capped.email_hashes) == MAX_EACH
