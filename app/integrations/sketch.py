"""Latency percentiles of integration health: the rollups' mergeable sketch (app/rollups/sketch.py,
log-scale buckets within 1 % of every duration), the one place this package touches it."""

from __future__ import annotations

from ..rollups.sketch import RELATIVE_ACCURACY as RELATIVE_ERROR, key as bucket, quantile

__all__ = ["RELATIVE_ERROR", "bucket", "quantile"]
