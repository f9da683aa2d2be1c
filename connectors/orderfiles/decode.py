"""An order file's bytes as UTF-8 text, and its delimiter: what Excel and shop systems export.

Encodings: UTF-8 with or without BOM, UTF-16 with BOM, and Windows-1252 (Excel's default "CSV" on
Windows) as a fallback, said in a warning. Delimiters: `,` `;` tab `|`, or columns aligned with
spaces (the CDNOW file), detected from the first lines where only one fits.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from rfmsync.core.errors import InputError

DELIMITERS = {",": ",", ";": ";", "tab": "\t", "\t": "\t", "|": "|", "whitespace": " "}
ENCODINGS = ("utf-8", "utf-16", "windows-1252", "latin-1")
_SAMPLE_LINES = 50


@dataclass
class Decoded:
    """The file as UTF-8 bytes, split at `delimiter`; whitespace-aligned files come rewritten with commas."""

    data: bytes
    delimiter: str
    encoding: str
    warnings: list[str] = field(default_factory=list)


def read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                return handle.read()
        return path.read_bytes()
    except (EOFError, zlib.error, gzip.BadGzipFile):
        raise InputError(f"{path}: the compressed file is truncated or corrupt; export it again") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, expected an orders file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot open ({exc.strerror or type(exc).__name__})") from None


def decode(path: Path, raw: bytes, encoding: str | None = None, delimiter: str | None = None) -> Decoded:
    text, used, warnings = _to_text(path, raw, encoding)
    sep = _delimiter(path, text, delimiter)
    if sep == " ":
        whole = raw.decode("ascii") if encoding is None and raw.isascii() else text
        return Decoded(_whitespace_to_commas(whole).encode("utf-8"), ",", used, warnings)
    data = raw if used == "utf-8" and not raw.startswith(codecs.BOM_UTF8) else text.encode("utf-8")
    return Decoded(data, sep, used, warnings)


def _to_text(path: Path, raw: bytes, encoding: str | None) -> tuple[str, str, list[str]]:
    if encoding is not None:
        name = encoding.lower().replace("_", "-")
        try:
            codecs.lookup(name)
        except LookupError:
            raise InputError(f"--encoding {encoding!r}: unknown encoding; expected one of "
                             f"{', '.join(ENCODINGS)}") from None
        try:
            return raw.decode("utf-8-sig" if name in ("utf-8", "utf8") else name), name, []
        except UnicodeDecodeError as exc:
            raise InputError(f"{path}: not {encoding} text near byte {exc.start}") from None
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return raw.decode("utf-16"), "utf-16", []
        except UnicodeDecodeError as exc:
            raise InputError(f"{path}: starts like UTF-16 but is not UTF-16 text near byte {exc.start}") from None
    if raw.isascii():  # most exports: valid UTF-8 without building the whole text (the sniff reads the head)
        return raw[:1 << 16].decode("ascii"), "utf-8", []
    try:
        return raw.decode("utf-8-sig"), "utf-8", []
    except UnicodeDecodeError as exc:
        at = exc.start
    # Windows-1252 leaves five bytes undefined; Latin-1 reads every byte.
    for fallback in ("windows-1252", "latin-1"):
        try:
            text = raw.decode(fallback)
        except UnicodeDecodeError:
            continue
        return text, fallback, [f"{path}: not UTF-8 (near byte {at}); read as {fallback}. "
                                "Save the file as UTF-8 CSV, or set --encoding, if accented letters look wrong"]
    raise AssertionError("latin-1 decodes every byte")  # pragma: no cover


def _delimiter(path: Path, text: str, given: str | None) -> str:
    if given is not None:
        try:
            return DELIMITERS[given]
        except KeyError:
            raise InputError(f"--delimiter {given!r}: expected one of , ; tab | whitespace") from None
    lines = [line for line in text[:1 << 16].splitlines()[:_SAMPLE_LINES] if line.strip()]
    if not lines:
        return ","
    fits: dict[str, int] = {}
    for sep in (",", ";", "\t", "|"):
        if sep not in lines[0]:
            continue
        try:
            widths = {len(row) for row in csv.reader(io.StringIO("\n".join(lines), newline=""), delimiter=sep)}
        except csv.Error:
            continue
        if len(widths) == 1 and min(widths) > 1:
            fits[sep] = widths.pop()
    if len(fits) == 1:
        return next(iter(fits))
    if len(fits) > 1:
        # "12,50;2026-10-31" splits evenly at both: the separator of the header line wins when the
        # header has more fields with it (names rarely hold ; or , themselves).
        ranked = sorted(fits.items(), key=lambda kv: -kv[1])
        if ranked[0][1] > ranked[1][1]:
            return ranked[0][0]
        raise InputError(f"{path}: cannot tell the delimiter ({' or '.join(repr(s) for s in fits)}); "
                         "set --delimiter")
    widths = {len(line.split()) for line in lines}
    if '"' not in text[:10_000] and len(widths) == 1 and min(widths) > 1:
        return " "
    return ","  # a single column, or ragged rows: the reader says what is wrong


def _whitespace_to_commas(text: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    # Blank lines stay blank, so line numbers in messages are the file's own.
    writer.writerows(line.split() for line in text.splitlines())
    return out.getvalue()
