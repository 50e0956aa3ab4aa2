"""Time-sortable unique event ids (ULID: 48-bit millisecond time + 80 random bits, Crockford base32).

Hand-written because it is a few lines and sits on the ingest hot path; ids sort by creation
time as plain strings, so the newest events are also the largest ids. The random part comes
from the `random` module, which Python reseeds in every forked worker process.
"""

from __future__ import annotations

import random
import re
import time
from functools import lru_cache

# what a sender may give as event.id (a ULID of ours is one)
EVENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,127}\Z")

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]  # 10 bits -> 2 characters


@lru_cache(maxsize=1024)
def _time_part(ms: int) -> str:
    """10 characters for the 48-bit time (50 bits; the top two are zero)."""
    return "".join(_ALPHABET[(ms >> shift) & 31] for shift in range(45, -1, -5))


def new_id(now_ms: int | None = None) -> str:
    ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    r, p = random.getrandbits(80), _PAIRS  # unrolled: this runs once per stored event
    return (
        _time_part(ms)
        + p[r >> 70]
        + p[(r >> 60) & 1023]
        + p[(r >> 50) & 1023]
        + p[(r >> 40) & 1023]
        + p[(r >> 30) & 1023]
        + p[(r >> 20) & 1023]
        + p[(r >> 10) & 1023]
        + p[r & 1023]
    )


def derived_id(ms: int, digest: bytes) -> str:
    """A ULID whose time is `ms` and whose 80 random bits are the first ten bytes of `digest`:
    a sender that retries the same record gets the same id (and the store's duplicate check)
    where it gave none of its own."""
    r, p = int.from_bytes(digest[:10], "big"), _PAIRS
    return (
        _time_part(ms)
        + p[r >> 70]
        + p[(r >> 60) & 1023]
        + p[(r >> 50) & 1023]
        + p[(r >> 40) & 1023]
        + p[(r >> 30) & 1023]
        + p[(r >> 20) & 1023]
        + p[(r >> 10) & 1023]
        + p[r & 1023]
    )
