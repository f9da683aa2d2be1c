"""The ad platforms' identifier normalizer against the platforms' documented rules and examples."""

from __future__ import annotations

import hashlib
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rfmsync.connectors.identifiers import (
    e164,
    google_email,
    google_phone,
    is_region,
    meta_email,
    meta_phone,
    sha256_hex,
)


def test_sha256_is_lowercase_hex_of_utf8() -> None:
    # FIPS 180-2's test vector, then a non-ASCII address (UTF-8 bytes, not Latin-1).
    assert sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert sha256_hex("jürgen@example.de") == hashlib.sha256("jürgen@example.de".encode()).hexdigest()


@pytest.mark.parametrize(("raw", "meta", "google"), [
    # Meta's SDK strips spaces, tabs, line ends, NUL, VT and dots at the ends, then lower-cases.
    ("  Ada.Lovelace@Example.COM \n", "ada.lovelace@example.com", "ada.lovelace@example.com"),
    ("ada@example.com.", "ada@example.com", None),  # Google keeps the dot: no valid domain then
    # Google's example (docs/platforms.md §7.2): Gmail dots and a +tag go, for Google only.
    ("cloudy.sanfrancisco+shopping@gmail.com", "cloudy.sanfrancisco+shopping@gmail.com",
     "cloudysanfrancisco@gmail.com"),
    ("Jane.Doe@GoogleMail.com", "jane.doe@googlemail.com", "janedoe@googlemail.com"),
    ("jane.doe+news@example.com", "jane.doe+news@example.com", "jane.doe+news@example.com"),  # other domains keep them
    ("ja ne@exa mple.com", "ja ne@exa mple.com", "jane@example.com"),  # Google removes inner whitespace
    ("not-an-email", None, None), ("@example.com", None, None), ("", None, None), (None, None, None),
])
def test_emails_per_platform(raw: str | None, meta: str | None, google: str | None) -> None:
    assert (meta_email(raw), google_email(raw)) == (meta, google)


@pytest.mark.parametrize(("raw", "region", "expected"), [
    ("0151 2345 6789", "DE", "+4915123456789"),
    ("+49 (151) 2345-6789", None, "+4915123456789"),
    ("0049 151 23456789", "DE", "+4915123456789"),
    ("(650) 253-0000", "US", "+16502530000"),
    ("650.253.0000", "us", "+16502530000"),
    ("0151 2345 6789", None, None),  # no country code and no default region: unreadable
    ("12", "DE", None), ("call me", "DE", None), ("  ", "DE", None), (None, "DE", None),
])
def test_phones_are_e164(raw: str | None, region: str | None, expected: str | None) -> None:
    assert e164(raw, region) == expected
    assert google_phone(raw, region) == expected
    assert meta_phone(raw, region) == (None if expected is None else expected[1:])  # Meta: digits only


def test_regions() -> None:
    assert is_region("DE") and is_region("us") and not is_region("XX")


@given(st.text(max_size=40))
def test_normalized_emails_are_stable_and_clean(raw: str) -> None:
    for normalize in (meta_email, google_email):
        value = normalize(raw)
        if value is not None:
            assert normalize(value) == value and value == value.lower() and "@" in value
    google = google_email(raw)
    assert google is None or not re.search(r"\s", google)
