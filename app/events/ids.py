"""Time-sortable unique event ids (ULID: 48-bit millisecond time + 80 random bits, Crockford base32).

Hand-written because it is a few lines and sits on the ingest hot path; ids sort by creation
time as plain strings, so the newest events are also the largest ids. The random part comes
from the `random` module, which Python reseeds in every forked worker process.
"""
from __future__ import annotations

import random
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]  # 10 bits -> 2 characters


def new_id(now_ms: int | None = None) -> str:
    value = ((time.time_ns() // 1_000_000 if now_ms is None else now_ms) << 80) | random.getrandbits(80)
    # 26 characters = 130 bits: one leading 0-3 digit for the top bits, then 25 chars as 12 pairs + 1
    pairs = _PAIRS
    return (_ALPHABET[value >> 125] + _ALPHABET[(value >> 120) & 31]
            + "".join(pairs[(value >> shift) & 1023] for shift in range(110, -1, -10)))
