"""Customer identifiers as ad platforms take them: normalized the way each documents, then SHA-256.

One shared normalizer for every ad sink (issue 11), so that a customer matches on Meta and Google
alike and no raw email or phone leaves the process for an ad platform. Rules and sources:
docs/platforms.md §6.4 (Meta) and §7.2 "Normalization" (Google Data Manager API).

- Meta, email: trim spaces, tabs, line ends, NUL, vertical tab and dots at both ends, lower-case
  (what Meta's own SDK does, `customaudiencemixin.py`). Gmail dots are kept.
- Google, email: lower-case, every whitespace removed; for gmail.com / googlemail.com every dot of
  the local part removed and a `+tag` dropped.
- Phone, both: E.164 from libphonenumber (`phonenumbers`), with the store's `default_phone_region`
  for numbers without a country code; a number it does not know as valid is left out.
  Google hashes "+4915123456789", Meta the digits only, "4915123456789" (its rule: symbols removed,
  country code prefixed).

Nothing here logs: a normalized value or its hash is as personal as the address it came from.
"""

from __future__ import annotations

import functools
import hashlib
import re

import phonenumbers

_META_STRIP = " \t\r\n\0\x0b."
_WHITESPACE = re.compile(r"\s+")
_GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})


def sha256_hex(value: str) -> str:
    """Lower-case hex SHA-256 of the UTF-8 bytes: the digest both platforms take."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _looks_like_email(value: str) -> bool:
    local, at, domain = value.rpartition("@")
    return bool(at and local and "." in domain and not domain.startswith(".") and not domain.endswith("."))


def meta_email(email: str | None) -> str | None:
    if email is None:
        return None
    value = email.strip(_META_STRIP).lower()
    return value if _looks_like_email(value) else None


def google_email(email: str | None) -> str | None:
    if email is None:
        return None
    value = _WHITESPACE.sub("", email).lower()
    if not _looks_like_email(value):
        return None
    local, _, domain = value.rpartition("@")
    if domain in _GMAIL_DOMAINS:
        local = local.split("+", 1)[0].replace(".", "")
        if not local:
            return None
    return f"{local}@{domain}"


def e164(phone: str | None, default_region: str | None) -> str | None:
    """"+4915123456789" for "0151 2345 6789" in DE; None when no valid number can be read."""
    if phone is None or not phone.strip():
        return None
    return _e164(phone, default_region)


# libphonenumber takes ~45 us a number: 100,000 customers cost 2 s per ad sink and run. Each sink of
# a store and each run of the daemon asks again for the same numbers; the cache answers in <1 us.
@functools.lru_cache(maxsize=250_000)
def _e164(phone: str, default_region: str | None) -> str | None:
    try:
        number = phonenumbers.parse(phone, default_region.upper() if default_region else None)
    except phonenumbers.NumberParseException:
        return None
    # Valid, not merely possible: "12" is a possible German number; neither platform matches on it.
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def meta_phone(phone: str | None, default_region: str | None) -> str | None:
    number = e164(phone, default_region)
    return None if number is None else number.lstrip("+")


def google_phone(phone: str | None, default_region: str | None) -> str | None:
    return e164(phone, default_region)


def is_region(code: str) -> bool:
    """Whether `code` is a region libphonenumber knows (for validating `default_phone_region`)."""
    return code.upper() in phonenumbers.SUPPORTED_REGIONS


def check_phone_region(value: str | None) -> str | None:
    """Validator for an ad sink's `default_phone_region`: a known region code, upper-cased."""
    if value is not None and not is_region(value):
        raise ValueError(f"{value!r} is not a region code phone numbers know, like DE or US")
    return None if value is None else value.upper()
