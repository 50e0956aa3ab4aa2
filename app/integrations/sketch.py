"""Latency percentiles from the rollups' mergeable sketch: the one place this package touches its
bucket layout. When app/rollups/sketch.py exists its functions are used; until then a local copy of
the same idea (fixed log-scale buckets, 1 % relative error) keeps the fallback reader working.
Switch here, nowhere else."""
from __future__ import annotations

import math

try:   # the rollups engineer's sketch, once it lands
    from ..rollups import sketch as _rollup_sketch   # type: ignore[attr-defined]
except ImportError:   # pragma: no cover - depends on what has landed
    _rollup_sketch = None

_ALPHA = 0.01
_GAMMA = (1 + _ALPHA) / (1 - _ALPHA)
_LOG_GAMMA = math.log(_GAMMA)
_ZERO = -(2 ** 20)          # the bucket of durations at or below _MIN_MS
_MIN_MS = 1e-3


def bucket(ms: float) -> int:
    """The sketch bucket key of one duration (ms)."""
    if _rollup_sketch is not None and hasattr(_rollup_sketch, "key"):
        return _rollup_sketch.key(ms)
    if not ms > _MIN_MS:
        return _ZERO
    return math.ceil(math.log(ms) / _LOG_GAMMA)


def _value(key: int) -> float:
    if key == _ZERO:
        return 0.0
    return 2 * _GAMMA ** key / (_GAMMA + 1)


def quantile(buckets: dict[int, int], q: float) -> float | None:
    """The q-quantile (0..1) of the durations counted in `buckets`; None when empty."""
    if _rollup_sketch is not None and hasattr(_rollup_sketch, "quantile"):
        return _rollup_sketch.quantile(buckets, q)
    total = sum(buckets.values())
    if total <= 0:
        return None
    rank = math.floor(q * (total - 1))      # DDSketch's rank rule, as app/rollups/sketch.py
    seen = 0
    for key in sorted(buckets):
        seen += buckets[key]
        if seen > rank:
            return _value(key)
    return None   # pragma: no cover


RELATIVE_ERROR = _ALPHA
