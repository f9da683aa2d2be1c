"""A local sink: one audience file per segment, rewritten atomically, plus an append-only changes log.

Files in `dir`:
- `audiences/<segment>.csv`: customer_key, email, phone and the pushed fields of every customer
  currently in that segment, sorted by customer key. Replaced atomically (temp file + rename), so a
  reader never sees half a file.
- `changes.csv`: one line per change, oldest first: batch_id, customer_key, kind, old_segment,
  new_segment and the pushed fields. A batch replayed after a crash replaces its own lines at the
  end of the log instead of adding them twice.
"""

from __future__ import annotations

import csv
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from rfmsync.connectors.base import ConfiguredSink, PushResult
from rfmsync.connectors.csv.config import CsvSinkConfig
from rfmsync.core.diff import Change, ChangeKind
from rfmsync.core.errors import PermanentError

LOG_COLUMNS = ("batch_id", "customer_key", "kind", "old_segment", "new_segment")


def slug(segment: str) -> str:
    text = re.sub(r"[^a-z0-9]+", "-", segment.lower().replace("'", "")).strip("-")
    return text or "segment"


class CsvSink(ConfiguredSink):
    config: CsvSinkConfig

    def __init__(self, config: CsvSinkConfig, base_dir: Path) -> None:
        self.config = config
        self.dir = config.dir if config.dir.is_absolute() else base_dir / config.dir

    def push(self, batch_id: str, changes: Sequence[Change]) -> PushResult:
        if not changes:
            return PushResult(accepted=[])
        try:
            self._remove_leftover_temp_files()
            self._append_log(batch_id, changes)
            self._apply_to_audiences(changes)
        except OSError as exc:
            raise PermanentError(f"csv sink {self.name}: cannot write under {self.dir} ({exc.strerror or exc})") \
                from None
        return PushResult(accepted=[c.customer_key for c in changes])

    def _remove_leftover_temp_files(self) -> None:
        """A process killed mid-rewrite leaves its temp file (`.champions.csv.waw_j2gw`) behind; the
        rename never happened, so the file is garbage. One run holds the store, so none is in use."""
        for folder in (self.dir, self.dir / "audiences"):
            if folder.is_dir():
                for leftover in folder.glob(".*.csv.*"):
                    leftover.unlink(missing_ok=True)

    def _append_log(self, batch_id: str, changes: Sequence[Change]) -> None:
        log = self.dir / "changes.csv"
        log.parent.mkdir(parents=True, exist_ok=True)
        header = [*LOG_COLUMNS, *self.fields]
        if log.exists() and log.stat().st_size:
            _drop_trailing_batch(log, batch_id)
        with open(log, "a", encoding="utf-8", newline="") as handle:
            if handle.tell() == 0:
                csv.writer(handle, lineterminator="\n").writerow(header)
            writer = csv.writer(handle, lineterminator="\n")
            fields = self.fields
            writer.writerows([batch_id, c.customer_key, c.kind.value, c.old_segment or "", c.new_segment or "",
                              *[c.fields.get(f, "") for f in fields]] for c in changes)
            handle.flush()
            os.fsync(handle.fileno())

    def _apply_to_audiences(self, changes: Sequence[Change]) -> None:
        touched: dict[str, dict[str, list[str]]] = {}

        def members(segment: str) -> dict[str, list[str]]:
            if segment not in touched:
                touched[segment] = _read_audience(self._audience_path(segment))
            return touched[segment]

        fields = self.fields
        for c in changes:
            if c.old_segment and c.kind in (ChangeKind.MOVED, ChangeKind.LEFT):
                members(c.old_segment).pop(c.customer_key, None)
            if c.new_segment and c.kind is not ChangeKind.LEFT:
                get = c.fields.get
                members(c.new_segment)[c.customer_key] = [c.email or "", c.phone or "", *[get(f, "") for f in fields]]
        for segment, rows in touched.items():
            _write_atomically(self._audience_path(segment), ["customer_key", "email", "phone", *self.fields],
                              [[key, *rows[key]] for key in sorted(rows)])

    def _audience_path(self, segment: str) -> Path:
        return self.dir / "audiences" / f"{slug(segment)}.csv"


def _drop_torn_line(handle: BinaryIO) -> int:
    """Truncates a last line that has no newline: every line is written whole, so it is what a crash
    mid-write left (possibly cut inside its batch id or inside the header). Returns the new end."""
    end = position = handle.seek(0, os.SEEK_END)
    cut = 0
    while position > 0:
        step = min(1 << 16, position)
        position -= step
        handle.seek(position)
        newline = handle.read(step).rfind(b"\n")
        if newline >= 0:
            cut = position + newline + 1
            break
    if cut != end:
        handle.truncate(cut)
    return cut


def _drop_trailing_batch(log: Path, batch_id: str) -> None:
    """Truncates lines of `batch_id` at the end of the log, and a torn last line: what a crash
    mid-batch left behind.

    Reads backwards from the end, so the cost is the size of one batch, not of the whole log.
    """
    prefix = f"{batch_id},".encode()
    with open(log, "rb+") as handle:
        end = _drop_torn_line(handle)
        cut, position, carry = end, end, b""
        while position > 0:
            step = min(1 << 16, position)
            position -= step
            handle.seek(position)
            chunk = handle.read(step) + carry
            lines = chunk.split(b"\n")
            # The first piece may be the tail of an earlier line: keep it for the next chunk.
            carry = lines[0] if position > 0 else b""
            complete = lines[1:] if position > 0 else lines
            offset = position + len(lines[0]) + 1 if position > 0 else 0
            starts = []
            for line in complete:
                starts.append((offset, line))
                offset += len(line) + 1
            for line_start, line in reversed(starts):
                if not line:
                    continue
                if not line.startswith(prefix):
                    handle.truncate(cut)
                    return
                cut = line_start
        handle.truncate(cut)


def _read_audience(path: Path) -> dict[str, list[str]]:
    if not path.exists():
        return {}
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    return {row[0]: row[1:] for row in rows[1:] if row}


def _write_atomically(path: Path, header: list[str], rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
