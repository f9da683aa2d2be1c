"""What the run loop expects of sources and sinks.

Sources are stateless: `pull(since, until)` yields pages of validated orders and the run loop owns
the cursor. Sinks only ever see changes, computed against what that sink last acknowledged, and
report per record what the platform accepted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Protocol, TypeVar, runtime_checkable

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, field_validator
from rfmsync.core.batch import MONEY_SCALE, to_units
from rfmsync.core.diff import Change
from rfmsync.core.fields import DEFAULT_FIELDS, check_fields
from rfmsync.core.models import STATUS_CODES, Order, OrderLine


class ConnectorConfig(BaseModel):
    """What every `[[stores.X.sources]]` / `[[stores.X.sinks]]` table has; a connector's config
    model subclasses SourceConfig or SinkConfig and narrows `type` to its `Literal` name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    # Unique within the store among its sources (or sinks); default: the type.
    name: str | None = None


class SourceConfig(ConnectorConfig):
    # Re-read window for late writes (minutes); default: the store's lookback_minutes. A source
    # that always reads everything (a file) ignores it.
    lookback_minutes: int | None = Field(default=None, ge=0)


class SinkConfig(ConnectorConfig):
    batch_size: int = Field(default=500, ge=1)

    def exclusive_paths(self) -> dict[str, Path]:
        """Config key -> a path no other sink may share (two sinks writing one folder would overwrite
        each other's files without a word); relative paths are resolved against the config's folder."""
        return {}


class FieldsSinkConfig(SinkConfig):
    """A sink whose config lists the pushed fields (core/fields.py)."""

    # Pushed with every customer; a change in any of them is pushed. recency_days changes daily.
    fields: list[str] = Field(default_factory=lambda: list(DEFAULT_FIELDS))

    _fields = field_validator("fields")(check_fields)


@dataclass(frozen=True)
class WebhookDelivery:
    """What a verified order webhook brings: the platform's event id (the same for every retry of
    the event), its orders or the record refused, and whether it was only a ping to answer 200."""

    event_id: str
    orders: Sequence[Order] = ()
    rejects: Sequence[RejectedRecord] = ()
    ping: bool = False


@dataclass(frozen=True)
class RejectedRecord:
    """A source record that failed validation: kept with its position and reason, never dropped."""

    position: str  # "orders.csv line 14", "page 3 item 17"
    reason: str
    raw: Mapping[str, str] = field(default_factory=dict)


def lines_json(lines: Sequence[OrderLine]) -> str | None:
    """Order lines as the ledger stores them: [[["Coffee", "Gifts"], units], ...], None for none."""
    if not lines:
        return None
    return json.dumps([[list(line.categories), to_units(line.amount)] for line in lines], ensure_ascii=False)


@dataclass(frozen=True)
class OrderColumns:
    """Orders as parallel NumPy columns, for bulk sources (a file of a million orders): the ledger
    stores them as one columnar snapshot, without a validated `Order` object or a SQL row per order;
    the reader has validated them column-wise."""

    source: str
    order_id: NDArray[np.object_]  # str, unique within the source
    customer_key: NDArray[np.object_]  # str, or None for a guest
    email: NDArray[np.object_]  # str or None
    created_utc: NDArray[np.int64]
    amount_units: NDArray[np.int64]  # 1/10,000 of the currency unit (core.batch.MONEY_SCALE)
    status_code: NDArray[np.uint8]  # core.models.STATUS_CODES
    # One for all (a file) or one per order (a platform's bulk export).
    currency: str | NDArray[np.object_]
    updated_utc: int | NDArray[np.int64]
    phone: NDArray[np.object_] | None = None  # str or None per order
    # Marketing consent per order: True, False or None (not recorded), as Order.email_consent.
    email_consent: NDArray[np.object_] | None = None
    sms_consent: NDArray[np.object_] | None = None
    # Channel class (core.models.CHANNELS) and the source's detail, str or None per order; the
    # lines as JSON [[[category, ...], units], ...], as the ledger stores them (or None).
    channel: NDArray[np.object_] | None = None
    channel_detail: NDArray[np.object_] | None = None
    order_lines: NDArray[np.object_] | None = None

    def __len__(self) -> int:
        return len(self.order_id)

    def as_orders(self) -> list[Order]:
        """The same orders as models (tests, small consumers); the ledger never needs this."""
        n = len(self)
        updated = [self.updated_utc] * n if isinstance(self.updated_utc, int) else self.updated_utc.tolist()
        currencies = [self.currency] * n if isinstance(self.currency, str) else self.currency.tolist()
        statuses = list(STATUS_CODES)
        nothing = [None] * n
        phones, email_consents, sms_consents, channels, details, lines = (
            nothing if a is None else a.tolist() for a in (self.phone, self.email_consent, self.sms_consent,
                                                           self.channel, self.channel_detail, self.order_lines))
        return [Order(source=self.source, order_id=oid, customer_key=key, email=email, phone=phone,
                      created_at=datetime.fromtimestamp(created, UTC), updated_at=datetime.fromtimestamp(changed, UTC),
                      amount=Decimal(units) / MONEY_SCALE, currency=currency, status=statuses[code],
                      email_consent=email_consent, sms_consent=sms_consent, channel=channel, channel_detail=detail,
                      lines=tuple(OrderLine(categories=tuple(names), amount=Decimal(units) / MONEY_SCALE)
                                  for names, units in json.loads(lined or "[]")))
                for (oid, key, email, phone, created, changed, units, currency, code, email_consent, sms_consent,
                     channel, detail, lined) in zip(
                    self.order_id.tolist(), self.customer_key.tolist(), self.email.tolist(), phones,
                    self.created_utc.tolist(), updated, self.amount_units.tolist(), currencies,
                    self.status_code.tolist(), email_consents, sms_consents, channels, details, lines, strict=True)]


@dataclass(frozen=True)
class Contact:
    """What an ad audience may be sent of a customer: the newest email and phone the ledger holds,
    and the marketing consent recorded for each (None: the source does not record it)."""

    email: str | None
    phone: str | None
    email_consent: bool | None = None
    sms_consent: bool | None = None
    # Every other email and phone the customer is known by (a store with several sources: the web
    # shop's email and the POS's phone), normalized; the sink's consent rules apply to them alike.
    other_emails: tuple[str, ...] = ()
    other_phones: tuple[str, ...] = ()


class SourceCursor(BaseModel):
    """Where a source resumes after a page: a source declares its own subclass (`cursor_model`) and
    the run loop stores it as JSON with the page's orders, in one transaction, and gives it back
    validated. A stored position that no longer validates (an upgrade changed the model) is
    dropped: the source then reads from the last complete pull, which costs time, never orders."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class PageToken(SourceCursor):
    """An API's opaque next-page token or page number, for sources that need nothing else."""

    token: str


CursorT = TypeVar("CursorT", bound=SourceCursor)


@dataclass(frozen=True)
class OrderPage:
    orders: Sequence[Order] = ()
    rejects: Sequence[RejectedRecord] = ()
    # Where to resume after this page (an instance of the source's cursor_model).
    cursor: SourceCursor | None = None
    # A bulk source's orders as columns, instead of (or besides) `orders`.
    columns: OrderColumns | None = None
    # How many orders the whole pull holds, when the platform says (a total header): for progress.
    expected: int | None = None

    @property
    def size(self) -> int:
        return len(self.orders) + (len(self.columns) if self.columns is not None else 0)


class Source(Protocol[CursorT]):
    @property
    def name(self) -> str:
        """Unique within the store; the ledger keys orders by (source name, order id)."""
        ...

    @property
    def cursor_model(self) -> type[CursorT]:
        """The type of its pages' `cursor`, which `pull` is given back."""
        ...

    def pull(self, since: datetime | None, until: datetime, cursor: CursorT | None) -> Iterator[OrderPage]:
        """Orders created or updated in [since, until); since None means the whole history."""
        ...

    def close(self) -> None:
        """Releases connections and files; the run loop calls it once the run is over, even after an error."""
        ...


@runtime_checkable
class BackfillSource(Source[CursorT], Protocol[CursorT]):
    """A source with a faster way to read the whole history (a platform's bulk export)."""

    def backfill(self, since: datetime | None, until: datetime, cursor: CursorT | None) -> Iterator[OrderPage]: ...


@dataclass(frozen=True)
class PushResult:
    """Customer keys the platform accepted, those it refused (with the reason; offered again on a few
    later runs), and those the sink skipped on purpose (not in the audience: held until their
    record changes). Keys in none of them stay unacknowledged and go out again next run."""

    accepted: Sequence[str]
    rejected: Mapping[str, str] = field(default_factory=dict)
    skipped: Mapping[str, str] = field(default_factory=dict)


class Sink(Protocol):
    """Everything the run loop uses of a sink. `ConfiguredSink` gives `name`, `batch_size`, `fields`
    and `close` from the config; a sink writes `push`."""

    @property
    def name(self) -> str: ...

    @property
    def batch_size(self) -> int: ...

    @property
    def fields(self) -> list[str]:
        """The pushed fields (core/fields.py), "segment" first; a change in any of them is pushed."""
        ...

    def push(self, batch_id: str, changes: Sequence[Change]) -> PushResult:
        """Sends one batch. Must be an idempotent upsert: a replay with the same batch_id after a
        crash must not duplicate anything. Raises TransientError to try again on the next run,
        AuthError or PermanentError to stop this sink for the run."""
        ...

    def close(self) -> None:
        """Releases connections; the run loop calls it once the run is over, even after an error."""
        ...


@runtime_checkable
class SegmentAwareSink(Protocol):
    """A sink that needs the scheme's segment names (to clear every other segment's tag)."""

    def set_segments(self, names: Sequence[str]) -> None: ...


@runtime_checkable
class PreviewingSink(Protocol):
    """A sink that can say, for a dry run, what it would do on the platform."""

    def preview(self, changes: Sequence[Change]) -> list[str]: ...


class SinkMemory(Protocol):
    """Small values a connector keeps between runs in the state (an ad platform's audience ids, a
    source's customer cache), per store and connector."""

    def get(self, key: str) -> str | None: ...

    def put(self, key: str, value: str) -> None: ...


@runtime_checkable
class MemorySink(Protocol):
    """A sink that keeps ids between runs (lists it created, audience ids): the run loop gives it
    its memory before anything is pushed."""

    def attach_memory(self, memory: SinkMemory) -> None: ...


# The record an audience sink is diffed on: its segment and its member text.
AUDIENCE_FIELDS = ("segment", "member")


@runtime_checkable
class AudienceSink(Protocol):
    """A sink whose audiences hold hashed identifiers rather than field values (ad platforms).

    The run loop asks `member()` what the sink would hold for each customer in a segment and diffs
    those texts (fields "segment", "member"), so a new email or a withdrawn consent is a change like
    a new segment; "" means the customer is in no audience of this sink. A change's `before` is the
    member text the audience was sent, which is what a removal must send.
    """

    @property
    def minimum_size(self) -> int:
        """Members below which the platform will not serve the audience (the summary warns)."""
        ...

    def attach_memory(self, memory: SinkMemory) -> None: ...

    def member(self, segment: str, contact: Contact) -> str: ...

    def replace(self, batch_id: str, members: Mapping[str, Sequence[str]]) -> None:
        """--full-resync: makes every audience of this sink hold exactly `members` (segment -> member
        texts; a segment of this sink absent from it is emptied). Raises as push does."""
        ...

    def finish(self, sizes: Mapping[str, int]) -> list[str]:
        """After a run's pushes, with each segment's size as sent: follow-up work (a lookalike) and
        notes for the run summary."""
        ...


class SinkConfigFields(Protocol):
    @property
    def type(self) -> str: ...
    @property
    def name(self) -> str | None: ...
    @property
    def batch_size(self) -> int: ...
    @property
    def fields(self) -> list[str]: ...


class ConfiguredSink:
    """The Sink properties every sink takes from its config; a sink is named after its type
    unless the config names it."""

    config: SinkConfigFields

    @property
    def name(self) -> str:
        return self.config.name or self.config.type

    @property
    def batch_size(self) -> int:
        return self.config.batch_size

    @property
    def fields(self) -> list[str]:
        return list(self.config.fields)

    def close(self) -> None:
        """Nothing to release; a sink holding an HTTP session closes it."""
