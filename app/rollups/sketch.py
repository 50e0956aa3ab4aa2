"""The latency sketch: fixed log-scale buckets keyed by an int, merged by adding counts.

Bucket k holds the durations d (ms) with GAMMA**(k-1) < d <= GAMMA**k, GAMMA = (1+a)/(1-a), and
answers for them with 2*GAMMA**k/(GAMMA+1): within a = 1 % of every duration in it (relative
error). This is DDSketch's logarithmic mapping (Masson, Rim & Lee, VLDB 2019; the `ddsketch`
package's LogarithmicMapping without its offset). Because the buckets are fixed, sketches of
any minutes, providers or processes merge exactly by adding counts per key — in SQL `sum()`
and in an OpenSearch `sum` aggregation — and a rebuild gives the same keys as ingest did.

Durations at or below MIN_MS (0, negative: a clock step on the caller's side) go to ZERO_KEY,
which answers 0 and sorts below every other key. A duration of 1 s is key 346, 1 h is 755.

Why not the package itself: the keys are stored for years, so their formula is part of the
storage format and must not move with a dependency's release; it is the three lines below.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

RELATIVE_ACCURACY = 0.01
GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
_MULTIPLIER = 1 / math.log(GAMMA)
MIN_MS = 1e-3  # 1 µs: shorter durations count as 0
ZERO_KEY = -1000  # below the key of MIN_MS (-345)


def key(duration_ms: float) -> int:
    """The bucket of a duration in milliseconds."""
    if not duration_ms > MIN_MS:  # also NaN
        return ZERO_KEY
    return math.ceil(math.log(duration_ms) * _MULTIPLIER)


def value(bucket: int) -> float:
    """The duration a bucket answers with (within RELATIVE_ACCURACY of each one in it)."""
    if bucket <= ZERO_KEY:
        return 0.0
    return 2 * GAMMA**bucket / (GAMMA + 1)


def merge(*sketches: Mapping[int, int]) -> dict[int, int]:
    out: dict[int, int] = {}
    for sketch in sketches:
        for k, n in sketch.items():
            out[k] = out.get(k, 0) + n
    return out


def count(sketch: Mapping[int, int]) -> int:
    return sum(sketch.values())


def quantile(sketch: Mapping[int, int], q: float) -> float | None:
    """The q-quantile (0 <= q <= 1) of the durations counted in `sketch`, None when it is empty:
    the value of the bucket holding the duration of rank floor(q * (n - 1)) in ascending order
    (the same rank rule as DDSketch), so it is within RELATIVE_ACCURACY of that duration."""
    if not 0 <= q <= 1:
        raise ValueError(f"quantile {q!r}: expected a number from 0 to 1")
    total = count(sketch)
    if total <= 0:
        return None
    rank = math.floor(q * (total - 1))
    seen = 0
    for k in sorted(sketch):
        seen += sketch[k]
        if seen > rank:
            return value(k)
    return value(max(sketch))
