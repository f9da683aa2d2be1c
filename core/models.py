"""The `Order` record every source produces, validated at the boundary with pydantic."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator


class OrderStatus(StrEnum):
    PAID = "paid"
    PENDING = "pending"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    CANCELLED = "cancelled"
    VOIDED = "voided"
    TEST = "test"
    # Not a sale yet (a web order pending payment or on hold, a POS draft): not counted until it changes.
    OPEN = "open"


# Orders with these statuses are never counted, whatever their amount (docs/scoring.md, "counted order").
EXCLUDED_STATUSES = frozenset({OrderStatus.CANCELLED, OrderStatus.VOIDED, OrderStatus.TEST, OrderStatus.OPEN})
# Integer codes used in the columnar batch; the order is part of no file format.
STATUS_CODES: dict[OrderStatus, int] = {status: code for code, status in enumerate(OrderStatus)}
EXCLUDED_STATUS_CODES = tuple(sorted(STATUS_CODES[s] for s in EXCLUDED_STATUSES))


# Channel classes an order is sold through, as stores filter on them (rfm.channels): the web shop,
# a point of sale, a marketplace (Amazon, eBay, Etsy through the shop), a phone or email order
# entered by staff, a subscription renewal, anything else.
CHANNELS = ("web", "pos", "marketplace", "staff", "subscription", "other")


def check_channel(value: str | None) -> str | None:
    """Validator of a channel class (an order's, a file source's)."""
    if value is not None and value not in CHANNELS:
        raise ValueError(f"expected one of {', '.join(CHANNELS)}")
    return value


def _aware_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must carry a time zone (naive times are ambiguous)")
    return value.astimezone(UTC)


AwareUtc = Annotated[datetime, AfterValidator(_aware_utc)]


# Store-currency units per unit of another currency: above this a rate is a typo (the widest real
# pairs, such as IRR per EUR, are below 100,000), and nan or inf would overflow amounts.
MAX_RATE = 1_000_000.0


class OrderLine(BaseModel):
    """What an order's line adds to its net amount (after discounts and its refunds), and the
    product categories of its product (a product may be in several)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    categories: tuple[str, ...]
    amount: Decimal

    @field_validator("categories")
    @classmethod
    def _named(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(name.strip() for name in value if name.strip()))


class Order(BaseModel):
    """One order as rfmsync understands it, whatever system it came from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str = Field(min_length=1)
    order_id: str = Field(min_length=1)
    # The source's customer id, or a normalized email for guests when the store merges them.
    customer_key: str | None = None
    email: str | None = None
    phone: str | None = None
    created_at: AwareUtc
    updated_at: AwareUtc | None = None
    # Net amount: the total after refunds, in `currency`.
    amount: Decimal
    currency: str = Field(min_length=3, max_length=3)
    status: OrderStatus = OrderStatus.PAID
    # The channel's class (CHANNELS) and the source's own detail of it: a shop platform's sales
    # channel name, a point of sale's location id.
    channel: str | None = None
    channel_detail: str | None = None
    # The order's lines with their product categories, for stores that score on some categories
    # (rfm.categories); empty when the source records none.
    lines: tuple[OrderLine, ...] = ()
    # The customer's marketing consent as the source recorded it when the order was read (a platform's
    # email and SMS marketing states; a file's accepts_marketing column); None: not recorded. Ad
    # sinks send an identifier only with its consent (or a store's ad_consent = "not_required").
    email_consent: bool | None = None
    sms_consent: bool | None = None

    @field_validator("customer_key", "email", "phone")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        return value or None

    _known_channel = field_validator("channel")(check_channel)

    @field_validator("currency")
    @classmethod
    def _upper_currency(cls, value: str) -> str:
        if not value.isalpha():
            raise ValueError("must be a three-letter ISO 4217 code")
        return value.upper()

    @field_validator("amount")
    @classmethod
    def _finite_amount(cls, value: Decimal) -> Decimal:
        if not value.is_finite():
            raise ValueError("must be a finite number")
        return value

    @property
    def counted(self) -> bool:
        """Whether this order counts for RFM before the window is applied."""
        return self.status not in EXCLUDED_STATUSES and self.amount > 0


def normalize_email(email: str) -> str:
    """The form emails are compared and hashed in: trimmed and lower-cased."""
    return email.strip().lower()
