"""What an ad audience holds of a customer, shared by the ad sinks: hashed identifiers chosen by
consent, written as one short text the run loop diffs on (connectors.base.AudienceSink).

A member text is "e=<sha256>;p=<sha256>;c=<1|0|>": the hashed email and phone (either may be
empty) and the recorded consent of what is sent (1 all granted, 0 one refused, empty not
recorded). A customer known by several emails or phones (a store with a web shop and a point of
sale) has them comma-separated, the newest first, at most MAX_EACH of each. It holds no raw value;
like the hashes it is never logged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rfmsync.connectors.base import ConfiguredSink, Contact
from rfmsync.connectors.identifiers import sha256_hex
from rfmsync.core.diff import Change, ChangeKind
from rfmsync.core.errors import PermanentError

Normalizer = Callable[[str | None], str | None]


# Identifiers of one kind sent per customer: Google takes up to 10 per member (Data Manager API,
# AudienceMember.userData), Meta one row per identifier pair; five of each cover a person's
# addresses across a shop's systems without turning one customer into many rows.
MAX_EACH = 5


@dataclass(frozen=True)
class Member:
    email_hashes: tuple[str, ...]  # empty when none is sent
    phone_hashes: tuple[str, ...]
    consent: bool | None  # of the identifiers sent, as recorded; None: not recorded

    def text(self) -> str:
        flag = "" if self.consent is None else str(int(self.consent))
        return f"e={','.join(self.email_hashes)};p={','.join(self.phone_hashes)};c={flag}"

    def hashes(self) -> str:
        """The text without consent (a platform that takes no consent field diffs on this)."""
        return f"e={','.join(self.email_hashes)};p={','.join(self.phone_hashes)}"


def parse(text: str) -> Member:
    parts = dict(part.split("=", 1) for part in text.split(";") if "=" in part)
    flag = parts.get("c", "")
    return Member(_split(parts.get("e", "")), _split(parts.get("p", "")), None if flag == "" else flag == "1")


def _split(value: str) -> tuple[str, ...]:
    return tuple(h for h in value.split(",") if h)


def member_of(contact: Contact, *, consent_required: bool, email: Normalizer, phone: Normalizer) -> Member | None:
    """The identifiers an ad platform may get for this customer, hashed; None when there are none.

    With consent required, an identifier goes only with its own consent recorded as given (the email
    with email marketing consent, the phone with SMS consent; the customer's newest record of each
    applies to all their emails, or phones); "not_required" sends both, carrying the consent as
    recorded, never assumed.
    """
    consents: list[bool | None] = []
    email_hashes: tuple[str, ...] = ()
    phone_hashes: tuple[str, ...] = ()
    if contact.email_consent is True or not consent_required:
        email_hashes = _hashed((contact.email, *contact.other_emails), email)
        if email_hashes:
            consents.append(contact.email_consent)
    if contact.sms_consent is True or not consent_required:
        phone_hashes = _hashed((contact.phone, *contact.other_phones), phone)
        if phone_hashes:
            consents.append(contact.sms_consent)
    if not consents:
        return None
    if False in consents:
        consent: bool | None = False
    elif all(c is True for c in consents):
        consent = True
    else:
        consent = None
    return Member(email_hashes, phone_hashes, consent)


def _hashed(values: Sequence[str | None], normalize: Normalizer) -> tuple[str, ...]:
    """Distinct hashes of the values the platform's rule can read, in the order given, MAX_EACH at most."""
    hashes: dict[str, None] = {}
    for value in values:
        normalized = normalize(value)
        if normalized is not None:
            hashes.setdefault(sha256_hex(normalized))
            if len(hashes) == MAX_EACH:
                break
    return tuple(hashes)


def plan(changes: Sequence[Change]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Member texts to add and to remove per segment. A removal sends what the audience was sent
    (the change's `before`), not what the customer's record says now; an update that leaves the
    member text as it was is nothing to do."""
    adds: dict[str, list[str]] = {}
    removes: dict[str, list[str]] = {}
    for change in changes:
        before = (change.before or {}).get("member", "")
        now = change.fields.get("member", "") if change.kind is not ChangeKind.LEFT else ""
        if change.kind is ChangeKind.UPDATED and before == now:
            continue
        if before and change.old_segment:
            removes.setdefault(change.old_segment, []).append(before)
        if now and change.new_segment:
            adds.setdefault(change.new_segment, []).append(now)
    return adds, removes


# Both platforms' usable minimum: Google serves a list from 100 members (§7.2); Meta advises
# against lists under 100 and needs 100 in a lookalike's seed (§6.3, §6.4).
MINIMUM_SIZE = 100


class AdAudienceSink(ConfiguredSink):
    """What the Meta and Google sinks share: the consent rule, the platform's normalizers, the
    check of the configured segments against the scheme, the usable minimum."""

    platform = ""  # "Meta", "Google": named in messages
    email: Normalizer
    phone: Normalizer

    def __init__(self, *, consent_required: bool, email: Normalizer, phone: Normalizer) -> None:
        self.consent_required = consent_required
        self.email, self.phone = email, phone

    @property
    def minimum_size(self) -> int:
        return MINIMUM_SIZE

    def configured_segments(self) -> tuple[str, Sequence[str]] | None:
        """(config key, segments it names) when the config limits the audiences; None for all."""
        return None

    def set_segments(self, names: Sequence[str]) -> None:
        configured = self.configured_segments()
        if configured is None:
            return
        key, wanted = configured
        unknown = [s for s in wanted if s not in names]
        if unknown:
            raise PermanentError(f"{self.platform} sink {self.name}: {key} names {unknown[0]!r}, which is not a "
                                 f"segment of the store's scheme ({', '.join(names)})", origin=self.platform.lower())

    def wanted_member(self, segment: str, contact: Contact) -> Member | None:
        """The customer's member for this sink, or None when the segment has no audience here or
        nothing may be sent."""
        configured = self.configured_segments()
        if configured is not None and segment not in configured[1]:
            return None
        return member_of(contact, consent_required=self.consent_required, email=self.email, phone=self.phone)
