"""A store can run from exported files: the formats `rfmsync score` reads, as a ledger source.

Files carry no "updated at", so every run re-reads the whole file and upserts it; the file's
fingerprint (size and SHA-256) is the cursor, and an unchanged file is skipped without parsing.
An order id column is required: re-reading a file must never count an order twice.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
from rfmsync.connectors.base import OrderColumns, OrderPage, RejectedRecord, SourceCursor
from rfmsync.connectors.csv.config import CsvSourceConfig
from rfmsync.connectors.orderfiles.options import ReadOptions
from rfmsync.connectors.orderfiles.orders import ColumnMap, parse_column_map, read_orders_file
from rfmsync.core.clock import utc_now
from rfmsync.core.errors import ConfigError

log = logging.getLogger("rfmsync.connectors.csv")


def fingerprint(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return f"{path.stat().st_size}:{digest.hexdigest()}"


class FileCursor(SourceCursor):
    # "size:sha256:settings": the file as last read completely, and the settings it was read with.
    fingerprint: str


class CsvSource:
    cursor_model = FileCursor

    def __init__(self, config: CsvSourceConfig, base_dir: Path, tz: ZoneInfo, currency: str | None,
                 rates: dict[str, float]) -> None:
        self.config = config
        self.path = config.path if config.path.is_absolute() else base_dir / config.path
        self.options = ReadOptions(tz=tz, currency=currency, rates=rates, date_format=config.date_format,
                                   delimiter=config.delimiter, encoding=config.encoding, decimal=config.decimal)
        self.column_map: ColumnMap | None = None
        if config.map is not None:
            self.column_map = parse_column_map(",".join(f"{k}={v}" for k, v in config.map.items()))

    @property
    def name(self) -> str:
        return self.config.name or f"csv:{self.path.name}"

    def close(self) -> None:
        """Files are opened and closed within each read."""

    def settings_key(self) -> str:
        """The settings that decide what the file's rows mean: a change makes the next run read it again."""
        c = self.config
        text = repr((sorted((c.map or {}).items()), str(self.path), c.date_format, c.delimiter, c.encoding,
                     c.decimal, self.options.tz.key, self.options.currency, sorted(self.options.rates.items())))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    def pull(self, since: datetime | None, until: datetime, cursor: FileCursor | None) -> Iterator[OrderPage]:
        yield from self._read(since, cursor, backfill_since=None)

    def backfill(self, since: datetime | None, until: datetime, cursor: FileCursor | None) -> Iterator[OrderPage]:
        """The whole file again; with `backfill --since`, only orders created on or after it."""
        yield from self._read(None, None, backfill_since=since)

    def _read(self, since: datetime | None, cursor: FileCursor | None, backfill_since: datetime | None
              ) -> Iterator[OrderPage]:
        try:
            current = f"{fingerprint(self.path)}:{self.settings_key()}"
        except OSError as exc:
            raise ConfigError(f"source {self.name}", f"{self.path}: cannot read ({exc.strerror or exc})") from None
        if since is not None and cursor is not None and cursor.fingerprint == current:
            return  # neither the file nor its settings changed since the last complete read
        read = read_orders_file(self.path, self.column_map, self.options)
        if read.order_ids is None:
            raise ConfigError(f"source {self.name}", f"{self.path}: no order id column; map one with "
                              "map = { order = \"COLUMN\" } so re-reading the file never counts an order twice")
        for warning in read.warnings:
            log.warning("source %s: %s", self.name, warning)
        batch = read.batch
        # ISO 4217 "XXX" (no currency) for a file without a currency column and no store currency.
        currency = read.currency or self.options.currency or "XXX"
        pulled = int(utc_now().timestamp())
        keep = np.arange(len(batch), dtype=np.int64)
        if backfill_since is not None:
            keep = np.flatnonzero(batch.created_utc >= int(backfill_since.timestamp()))
        customer_ids = np.asarray(batch.customer_ids, dtype=object)
        order_ids = np.asarray(list(read.order_ids), dtype=object)[keep]
        emails = (np.asarray([e or None for e in read.order_emails], dtype=object)[keep]
                  if read.order_emails is not None else np.full(len(keep), None, dtype=object))
        phones = (np.asarray([p or None for p in read.order_phones], dtype=object)[keep]
                  if read.order_phones is not None else None)
        consent = None
        if read.order_consent is not None:
            # One accepts_marketing column: the customer's marketing consent, for email and phone alike.
            consent = np.asarray([None, False, True], dtype=object)[read.order_consent[keep] + 1]
        columns = OrderColumns(
            source=self.name, order_id=order_ids, customer_key=customer_ids[batch.customer_codes[keep]],
            email=emails, created_utc=batch.created_utc[keep], amount_units=batch.amount_units[keep],
            status_code=batch.status_codes[keep], currency=currency, updated_utc=pulled, phone=phones,
            email_consent=consent, sms_consent=consent,
            channel=None if self.config.channel is None else np.full(len(keep), self.config.channel, dtype=object),
            channel_detail=None if self.config.channel is None else np.full(len(keep), self.path.name, dtype=object))
        rejects = [RejectedRecord(f"{self.path.name} line {r.line}", f"{r.column}: {r.reason}" if r.column
                                  else r.reason, dict(zip(read.header, r.raw, strict=False))) for r in read.rejects]
        # One page: the ledger keeps a file source's orders as one snapshot, merged per write.
        yield OrderPage(rejects=rejects, cursor=FileCursor(fingerprint=current), columns=columns)
