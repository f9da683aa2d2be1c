"""A store of customers with emails, phones and recorded consent, for the ad audience tests, and the
hashed rows each platform should hold for them, computed here independently of the sinks."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from pipelinekit import NOW
from rfmsync.core.fields import current_records
from rfmsync.core.models import Order
from rfmsync.core.rfm import ScoredCustomers


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Person:
    key: str
    email: str | None
    phone: str | None  # as the shop has it: national German format
    e164: str | None
    email_consent: bool | None
    sms_consent: bool | None


def person(n: int) -> Person:
    phone = f"0151 {n:08d}" if n % 2 == 0 else None
    email_consent = None if n % 5 == 0 else n % 3 != 0
    sms_consent = None if n % 7 == 0 else n % 4 == 0
    return Person(f"c{n}", f"  Customer.{n}@Example.com " if n % 11 else None, phone,
                  f"+49151{n:08d}" if phone else None, email_consent, sms_consent)


def orders_for(people: list[Person], seed: int = 1, *, source: str = "mem") -> list[Order]:
    rng = random.Random(seed)
    orders = []
    for p in people:
        for i in range(1 + rng.randrange(4)):
            days = rng.randrange(1, 700)
            when = NOW - timedelta(days=days)
            orders.append(Order(source=source, order_id=f"{p.key}-{i}", customer_key=p.key, email=p.email,
                                phone=p.phone, created_at=when, updated_at=when,
                                amount=Decimal(rng.randrange(500, 40000)) / 100, currency="EUR",
                                email_consent=p.email_consent, sms_consent=p.sms_consent))
    return orders


def buy_again(orders: list[Order], people: list[Person], at: datetime) -> None:
    """One more order for each of `people`, an hour before `at` (and after any earlier run)."""
    when = at - timedelta(hours=1)
    for p in people:
        orders.append(orders_for([p], seed=9)[0].model_copy(
            update={"order_id": f"{p.key}-new", "created_at": when, "updated_at": when}))


def segments_of(scored: ScoredCustomers) -> dict[str, str]:
    return {key: record[0] for key, record in current_records(scored, ["segment"]).items() if record[0]}


def meta_row(p: Person, *, consent_required: bool = True) -> tuple[str, str] | None:
    email = sha(p.email.strip().lower()) if p.email and (p.email_consent or not consent_required) else ""
    phone = sha(p.e164.lstrip("+")) if p.e164 and (p.sms_consent or not consent_required) else ""
    return (email, phone) if email or phone else None


def google_member(p: Person) -> tuple[tuple[str, str], ...] | None:
    """Google's normalization: example.com keeps its dots; consent required."""
    ids = []
    if p.email and p.email_consent:
        ids.append(("emailAddress", sha(p.email.strip().lower())))
    if p.e164 and p.sms_consent:
        ids.append(("phoneNumber", sha(p.e164)))
    return tuple(sorted(ids)) if ids else None


def expected_meta(people: Mapping[str, Person], segments: Mapping[str, str], wanted: set[str] | None = None,
                  ) -> dict[str, set[tuple[str, str]]]:
    audiences: dict[str, set[tuple[str, str]]] = {}
    for key, segment in segments.items():
        row = meta_row(people[key])
        if row is not None and (wanted is None or segment in wanted):
            audiences.setdefault(segment, set()).add(row)
    return audiences
