"""Cells read eight bytes at a time: SIMD-within-a-register arithmetic on NumPy uint64 arrays.

A cell of up to 8 ASCII bytes fits one little-endian 64-bit word (first byte lowest), zero past
the cell's end. Per-byte tests and the digits-to-number conversion are then a few whole-array
integer operations instead of a loop over the cell's bytes. uint64 arithmetic wraps, which the
tricks below rely on.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

U64 = NDArray[np.uint64]

_ONES = 0x0101010101010101
_ZEROS_CHAR = np.uint64(0x30 * _ONES)  # "0" in every byte
_HIGH = 0x80 * _ONES
_TO_HIGH_IF_OVER_9 = np.uint64(0x76 * _ONES)  # 0x76 + 10 = 0x80: sets a byte's high bit iff it is >= 10
# _LOW_BYTES[m]: the first m bytes of a word; _HIGH_BITS[m]: their high bits.
_LOW_BYTES = np.asarray([(1 << (8 * m)) - 1 for m in range(9)], dtype=np.uint64)
_HIGH_BITS = np.asarray([_HIGH & ((1 << (8 * m)) - 1) for m in range(9)], dtype=np.uint64)
_LOW_NIBBLES = np.uint64(0x0F * _ONES)  # a digit character's value
_BYTE_SHIFT = np.asarray([8 * m for m in range(9)], dtype=np.uint64)
_ALIGN_SHIFT = np.asarray([8 * (8 - m) for m in range(9)], dtype=np.uint64)
_POW10_U64 = np.asarray([10 ** k for k in range(20)], dtype=np.uint64)
POW10_FLOAT = 10.0 ** np.arange(23)  # all exact in float64
_POW10_I64 = 10 ** np.arange(19, dtype=np.int64)


def cell_words(buf: NDArray[np.uint8], starts: NDArray[np.int64], lengths: NDArray[np.int64],
               n_words: int) -> U64:
    """(n, n_words) words holding each cell, zero past its end. `buf` needs 8 bytes of padding
    after the last cell."""
    # An unaligned view with one-byte strides: element i is the 8 bytes starting at i.
    every_offset = np.ndarray(shape=(len(buf) - 7,), dtype=np.uint64, buffer=buf, strides=(1,))
    last = len(buf) - 8
    columns = []
    for k in range(n_words):
        at = starts + 8 * k if k else starts
        if k and len(at) and int(at.max()) > last:
            # Only a word wholly past its cell's end can start past the buffer: it is masked to
            # zero below, so where it is read from does not matter.
            at = np.minimum(at, last)
        word = every_offset[at]
        in_word = np.clip(lengths - 8 * k, 0, 8) if k else np.minimum(lengths, 8)
        if bool((in_word < 8).any()):
            word &= _LOW_BYTES[in_word]
        columns.append(word)
    return columns[0][:, None] if n_words == 1 else np.stack(columns, axis=1)


def word_hash(word: U64, lengths: NDArray[np.int64]) -> U64:
    """A mix of a cell's first word and its length (a key that callers check for collisions)."""
    h = (word ^ lengths.astype(np.uint64)) * np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(31)
    return h


def _parse_eight(digits: U64) -> U64:
    """The number written by up to 8 digits, first digit in the lowest byte; bytes are digit
    characters or zero (a leading zero)."""
    v = ((digits & _LOW_NIBBLES) * np.uint64(10 * 256 + 1)) >> np.uint64(8)
    v = ((v & np.uint64(0x00FF00FF00FF00FF)) * np.uint64(100 * 65536 + 1)) >> np.uint64(16)
    result: U64 = ((v & np.uint64(0x0000FFFF0000FFFF)) * np.uint64(10000 * 2**32 + 1)) >> np.uint64(32)
    return result


def _digits_number(word: U64, count: NDArray[np.int64]) -> U64:
    """The number of a zero-padded word of `count` digit characters."""
    # Moved to the top bytes, the zero bytes below read as leading zeros. A count of 0 shifts by 64,
    # which x86 takes as 0: callers never use those rows.
    return _parse_eight(word << _ALIGN_SHIFT[count])


def digit_values(words: U64, lengths: NDArray[np.int64]) -> NDArray[np.int64] | None:
    """The numbers of cells that are 1 to 16 digits without a leading zero ("7", not "07"), or None
    if any cell is not. Such a cell is the only text of its number: the number can be its key."""
    if words.shape[1] > 2 or not len(lengths) or int(lengths.min()) == 0:
        return None
    head_len = np.minimum(lengths, 8)
    head = words[:, 0]
    if bool((((head ^ _ZEROS_CHAR) + _TO_HIGH_IF_OVER_9) & _HIGH_BITS[head_len]).any()):
        return None
    if bool((((head & np.uint64(0xFF)) == ord("0")) & (lengths > 1)).any()):
        return None
    values = _digits_number(head, head_len)
    if words.shape[1] == 2:
        long = np.flatnonzero(lengths > 8)
        tail_len = lengths[long] - 8
        tail = words[long, 1]
        if bool((((tail ^ _ZEROS_CHAR) + _TO_HIGH_IF_OVER_9) & _HIGH_BITS[tail_len]).any()):
            return None
        values[long] = values[long] * _POW10_U64[tail_len] + _digits_number(tail, tail_len)
    return values.astype(np.int64)


def short_decimals(word: U64, lengths: NDArray[np.int64]) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Values of cells of at most 8 bytes like "-12.50" (optional sign, digits, at most one dot, a
    digit somewhere), and which cells are such; other cells get 0.0. `word`: each cell's first word.

    The digits without the dot make an integer M < 10**8 and the value is M / 10**k, both exact in
    float64: the division's one rounding gives the correctly rounded value, as float() does.
    """
    n_bytes = np.minimum(lengths, 8)
    first = word & np.uint64(0xFF)
    negative = first == ord("-")
    signed = negative | (first == ord("+"))
    if bool(signed.any()):
        word = np.where(signed, word >> np.uint64(8), word)
        n_bytes -= signed
    not_digit = (word ^ _ZEROS_CHAR) + _TO_HIGH_IF_OVER_9
    not_digit &= _HIGH_BITS[n_bytes]
    # At most one non-digit byte, and it is a dot: its position from the count of lower bits.
    has_dot = not_digit != 0
    position = (np.bitwise_count(not_digit - np.uint64(1)) - np.uint8(7)) >> np.uint8(3)  # 7 when none
    plain = ((word >> _BYTE_SHIFT[position]) & np.uint64(0xFF)) == ord(".")
    plain |= ~has_dot
    plain &= np.bitwise_count(not_digit) <= 1
    n_digits = n_bytes - has_dot
    plain &= n_digits >= 1
    plain &= lengths <= 8
    # Drop the dot: the bytes above it move down one (the top byte becomes zero).
    below = _LOW_BYTES[position]
    word = np.where(has_dot, (word & below) | ((word >> np.uint64(8)) & ~below), word)
    mantissa = _digits_number(word, n_digits)
    mantissa[~plain] = 0
    scale = n_bytes - 1 - position
    scale[~has_dot | ~plain] = 0
    values = mantissa.astype(np.float64)
    values /= POW10_FLOAT[scale]
    np.negative(values, out=values, where=negative)
    return values, plain


def long_decimals(cells: NDArray[np.uint8], lengths: NDArray[np.int64]
                    ) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """short_decimals for longer cells (up to 15 digits), a byte column at a time: (n, width) cells.

    The digits make an integer M below 2**53 and the value is M / 10**k: both exact in float64, so
    the one rounding of the division gives the correctly rounded value, which is what float() gives.
    """
    width = cells.shape[1]
    valid = np.arange(width) < lengths[:, None]
    digits = cells - np.uint8(48)
    is_digit = digits < 10
    is_dot = cells == 46
    signed = (cells[:, 0] == 45) | (cells[:, 0] == 43)
    other = valid & ~is_digit & ~is_dot
    other[:, 0] &= ~signed
    n_digits = is_digit.sum(axis=1)
    plain = ~other.any(axis=1) & (is_dot.sum(axis=1) <= 1) & (n_digits >= 1) & (n_digits <= 15)
    # Digits after the dot count toward the scale.
    after_dot = np.cumsum(is_dot, axis=1, dtype=np.int8) > 0
    scale = (is_digit & after_dot).sum(axis=1)
    # Each digit's weight is 10 ** (number of digits after it).
    digits[~is_digit] = 0
    later = np.cumsum(is_digit[:, ::-1], axis=1, dtype=np.int64)[:, ::-1] - is_digit
    mantissa = (digits.astype(np.int64) * _POW10_I64[np.minimum(later, 18)]).sum(axis=1)
    mantissa[~plain] = 0
    values = mantissa.astype(np.float64) / POW10_FLOAT[np.minimum(scale, 22)]
    negative = cells[:, 0] == 45
    values[negative] = -values[negative]
    return values, plain
