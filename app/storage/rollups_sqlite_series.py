"""Reads of the rollup tables that skip the ProviderRow objects (rollups_sqlite.SQLiteRollups
offers them as methods): the sums a page needs in bulk, as plain lists and dicts.

- `minute_calls`: calls and failures per minute of every provider, dense — what integration
  health's state machine walks (a week of every provider's minutes is ~67,000 rows: read as
  tuples into two lists per provider, not one object per row);
- `values`: a model.MEASURES field's sketch over a range, per value of its group field."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from ..rollups.model import MINUTE_MS, check_range, values_query
from .rollups_sqlite_keys import PROVIDERS, VALUES


def minute_calls(
    rollups, start_ms: int, end_ms: int, providers: Collection[str] | None = None
) -> dict[str, tuple[list[int], list[int]]]:
    """{provider: (calls, failures)}, one item a minute of [start_ms, end_ms) (whole minutes), for
    the providers with a key (all of `providers` when given, zeros where they had no calls)."""
    check_range(start_ms, end_ms, MINUTE_MS)
    if start_ms % MINUTE_MS or end_ms % MINUTE_MS:
        raise ValueError("minute_calls: [start, end) in whole minutes")
    conn = rollups._reader()
    keys = rollups.keys.of_family(conn, PROVIDERS)
    wanted = None if providers is None else set(providers)
    of_key = {k: v[0] for k, v in keys.items() if wanted is None or v[0] in wanted}
    low, n = start_ms // MINUTE_MS, (end_ms - start_ms) // MINUTE_MS
    out: dict[str, tuple[list[int], list[int]]] = {p: ([0] * n, [0] * n) for p in (wanted or ())}
    for name in set(of_key.values()):
        out.setdefault(name, ([0] * n, [0] * n))
    if not of_key or not n:
        return out
    arrays = {k: out[name] for k, name in of_key.items()}
    only = "" if wanted is None else f" AND k IN ({','.join(map(str, of_key))})"
    for m, k, calls, failures in conn.execute(
        f"SELECT m, k, calls, failures FROM calls_by_key WHERE w = 1 AND m >= ? AND m < ?{only}", (low, low + n)
    ):
        pair = arrays.get(k)
        if pair is not None:
            pair[0][m - low] += calls
            pair[1][m - low] += failures
    return out


def values(
    rollups, start_ms: int, end_ms: int, field: str, where: Mapping[str, Collection[str | None]] | None = None
) -> dict[str | None, dict[int, int]]:
    """The sketch of a MEASURES field over [start_ms, end_ms) (one step: day rows serve its whole
    days, SQL sums them) per value of its group field; `where`: {qualifier: allowed values}."""
    step, where_at = values_query(start_ms, end_ms, field, where)
    wanted = [(position + 2, allowed) for position, allowed in where_at.items()]  # (key: field, group, q1…)
    keys = {
        k: v
        for k, v in rollups.keys.of_family(rollups._reader(), VALUES).items()
        if v[0] == field and all(v[p] in allowed for p, allowed in wanted)
    }
    out: dict[str | None, dict[int, int]] = {}
    if not keys:
        return out
    for (_, k), found in rollups._sketch_steps("value_sketches", start_ms, end_ms, step, list(keys)).items():
        buckets = out.get(keys[k][1])
        if buckets is None:
            out[keys[k][1]] = found
        else:
            for b, n in found.items():
                buckets[b] = buckets.get(b, 0) + n
    return out
