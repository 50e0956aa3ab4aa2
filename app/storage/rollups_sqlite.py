"""Rollups in SQLite tables: the embedded tantivy store keeps them in a file of their own
(`rollups.db` in its directory), the legacy sqlite store in its own database file, written in the
same transaction as the events.

Tables (WITHOUT ROWID, clustered by width and time, so a time range is one range scan):
  counts_by_key   w, m, k, n                           events by the count dimensions
  calls_by_key    w, m, k, calls, failures, timeouts   provider calls by (provider, kind, status)
  latency_by_key  w, m, k, b, n                        latency sketch buckets by (provider, kind)
  values_by_key   w, m, k, b, n                        sketch buckets of model.MEASURES by (field, group, qualifiers)
  rollup_keys     id, family, key                      the keys' values (rollups_sqlite_keys.py)
`w` is the row's width and `m` its start, both in minutes (1, 60 or 1440; minutes since the
epoch): small integers take one to four bytes in SQLite's records, where milliseconds took six.
`k` is the id of the row's key in `rollup_keys` (the JSON array of its values, a missing value
a null of its own), so a row is about 15 bytes whatever its values; an upsert that adds
(`n = n + excluded.n`) finds its row by (w, m, k). Two writers adding to the same minute are
serialised by SQLite's write lock: both additions count. A database of the first layout (values
as text in every row) is migrated when opened (`create_tables`).

Widths: every batch is added per minute and also per hour and per day, so 90 days at a step of
an hour or a day read thousands of rows, not millions (about 10 µs a row in SQLite's GROUP BY).
A read splits [start, end) into the widest aligned pieces whose width divides the step, minutes
at the ragged edges. The rebuild replaces minutes and recomputes the hours and days it touched
from them, so all widths always agree.

Reads sum in SQL, grouped by step and key (`m / step * step, k`); Python maps the keys to their
values and sums the dimensions asked for.

Layout: this module reads (`SQLiteRollups`, the RollupReader over the tables, also the writer both
stores call); rollups_sqlite_write.py holds the schema, the move of earlier layouts and the writes
(a batch's sums at every width, the rebuild's range); rollups_sqlite_file.py the embedded store's
own file (`RollupFile`); rollups_sqlite_keys.py the key dictionary, rollups_sqlite_sketches.py the
packed sketch rows, rollups_sqlite_series.py the bulk reads.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Collection, Mapping
from contextlib import AbstractContextManager, contextmanager

from ..rollups.model import COUNT_DIMENSIONS, MINUTE_MS, CountRow, ProviderRow, Sums, check_range, count_columns, pieces
from .rollups_sqlite_keys import COUNTS, LATENCY, PROVIDERS, Keys
from .rollups_sqlite_series import minute_calls, values
from .rollups_sqlite_sketches import sum_blobs
from .rollups_sqlite_write import add_sums, replace_range


def _matching(values_of: Mapping[int, tuple], positions: list[int], wanted: list[set]) -> list[int]:
    return [
        ident
        for ident, values in values_of.items()
        if all(values[p] in allowed for p, allowed in zip(positions, wanted, strict=True))
    ]


class SQLiteRollups:
    """RollupReader (and writer) over the rollup tables. `reader()` gives this thread's
    connection; `transaction()` a connection inside a write transaction of the owner's."""

    def __init__(
        self, reader: Callable[[], sqlite3.Connection], transaction: Callable[[], AbstractContextManager[sqlite3.Connection]]
    ):
        self._reader = reader
        self._transaction = transaction
        self.keys = Keys()

    def add(self, sums: Sums) -> None:
        if sums:
            with self._forgetting(), self._transaction() as conn:
                add_sums(conn, sums, keys=self.keys)

    def replace(self, start_ms: int, end_ms: int, sums: Sums) -> None:
        """The sums of [start_ms, end_ms) become `sums` (the rebuild), in one transaction."""
        with self._forgetting(), self._transaction() as conn:
            replace_range(conn, start_ms, end_ms, sums, keys=self.keys)

    @contextmanager
    def _forgetting(self):
        """The key dictionary forgotten when the transaction fails (its new ids were rolled back)."""
        try:
            yield
        except BaseException:
            self.keys.forget()
            raise

    def dimensions(self) -> tuple[str, ...]:
        """The count dimensions every counts row is keyed by (all but after a migration from the
        first layout, until a full rebuild): only these may be asked or filtered on."""
        found = self._reader().execute("SELECT value FROM rollup_meta WHERE name = 'count_dimensions'").fetchone()
        return COUNT_DIMENSIONS[: found[0] if found else len(COUNT_DIMENSIONS)]

    def _steps(self, table: str, group: str, numbers: str, start_ms: int, end_ms: int, step_ms: int, ids: list[int] | None):
        """Rows (step start in minutes, {group,} sums) over every piece of the range; `ids`: only
        the rows of these keys (None: all)."""
        conn = self._reader()
        only = "" if ids is None else f" AND k IN ({','.join(map(str, ids))})"
        step = step_ms // MINUTE_MS
        for width, low, high in pieces(start_ms, end_ms, step_ms):
            w, low, high = width // MINUTE_MS, low // MINUTE_MS, high // MINUTE_MS
            if w == step and group:  # the rows as stored: each is its own group
                yield from conn.execute(
                    f"SELECT m, {group}, {numbers} FROM {table} WHERE w = ? AND m >= ? AND m < ?{only}", (w, low, high)
                )
                continue
            summed = ", ".join(f"sum({n})" for n in numbers.split(", "))
            yield from conn.execute(
                f"SELECT m / ? * ? AS s, {group + ', ' if group else ''}{summed} FROM {table} WHERE w = ? AND m >= ? "
                f"AND m < ?{only} GROUP BY s{', ' + group if group else ''}",
                (step, step, w, low, high),
            )

    def _sketch_steps(
        self, table: str, start_ms: int, end_ms: int, step_ms: int, ids: list[int] | None
    ) -> dict[tuple[int, int], dict[int, int]]:
        """(step start in minutes, key id) -> {bucket: n} over every piece of the range; `ids`:
        only these keys (None: all)."""
        conn = self._reader()
        only = "" if ids is None else f" AND k IN ({','.join(map(str, ids))})"
        step = step_ms // MINUTE_MS
        blobs: dict[tuple[int, int], list[bytes]] = {}
        for width, low, high in pieces(start_ms, end_ms, step_ms):
            w, low, high = width // MINUTE_MS, low // MINUTE_MS, high // MINUTE_MS
            for m, k, blob in conn.execute(
                f"SELECT m, k, s FROM {table} WHERE w = ? AND m >= ? AND m < ?{only}", (w, low, high)
            ):
                key = (m - m % step, k)
                found = blobs.get(key)
                if found is None:
                    blobs[key] = [blob]
                else:
                    found.append(blob)
        return {key: sum_blobs(found) for key, found in blobs.items()}

    def counts(
        self,
        start_ms: int,
        end_ms: int,
        step_ms: int,
        by: tuple[str, ...],
        where: Mapping[str, Collection[str]] | None = None,
        match: Callable[[Mapping[str, str | None]], bool] | None = None,
    ) -> list[CountRow]:
        """RollupReader.counts; `match`: only the keys whose values ({dimension: value}) pass it
        (app/rollups/answer.py's predicate of a query)."""
        check_range(start_ms, end_ms, step_ms)
        count_columns(by)
        count_columns(tuple(where or ()))
        positions = [COUNT_DIMENSIONS.index(d) for d in by]
        ids = None
        values_of: Mapping[int, tuple] = {}
        if by or where or match:
            values_of = self.keys.of_family(self._reader(), COUNTS)
        if where:
            ids = _matching(values_of, [COUNT_DIMENSIONS.index(d) for d in where], [set(v) for v in where.values()])
            if not ids:
                return []
        if match is not None:
            ids = [
                k
                for k in (values_of if ids is None else ids)
                if match(dict(zip(COUNT_DIMENSIONS, values_of[k], strict=False)))
            ]
            if not ids:
                return []
        summed: dict[tuple, int] = {}
        if by:
            for s, k, n in self._steps("counts_by_key", "k", "n", start_ms, end_ms, step_ms, ids):
                values = values_of[k]
                key = (s, *(values[p] for p in positions))
                summed[key] = summed.get(key, 0) + n
        else:
            for s, n in self._steps("counts_by_key", "", "n", start_ms, end_ms, step_ms, ids):
                summed[(s,)] = summed.get((s,), 0) + n
        return [
            CountRow(key[0] * MINUTE_MS, tuple(key[1:]), n) for key, n in sorted(summed.items(), key=lambda kv: kv[0][0])
        ]

    def providers(
        self, start_ms: int, end_ms: int, step_ms: int, providers: Collection[str] | None = None, latency: bool = True
    ) -> list[ProviderRow]:
        check_range(start_ms, end_ms, step_ms)
        conn = self._reader()
        calls_of, latency_of = self.keys.of_family(conn, PROVIDERS), self.keys.of_family(conn, LATENCY)
        calls_ids = latency_ids = None
        if providers is not None:
            wanted = [set(providers)]
            calls_ids, latency_ids = _matching(calls_of, [0], wanted), _matching(latency_of, [0], wanted)
        out: dict[tuple, ProviderRow] = {}
        found = out.get
        if calls_ids != []:
            for s, k, calls, failures, timeouts in self._steps(
                "calls_by_key", "k", "calls, failures, timeouts", start_ms, end_ms, step_ms, calls_ids
            ):
                provider, kind, status = calls_of[k]
                r = found((s, provider, kind))
                if r is None:
                    r = out[(s, provider, kind)] = ProviderRow(s * MINUTE_MS, provider, kind)
                r.calls += calls
                r.failures += failures
                r.timeouts += timeouts
                if status is not None:
                    r.statuses[status] = r.statuses.get(status, 0) + calls
        if latency and latency_ids != []:
            for (s, k), buckets in self._sketch_steps("latency_sketches", start_ms, end_ms, step_ms, latency_ids).items():
                provider, kind = latency_of[k]
                r = found((s, provider, kind))
                if r is None:
                    r = out[(s, provider, kind)] = ProviderRow(s * MINUTE_MS, provider, kind)
                if r.latency:
                    for b, n in buckets.items():
                        r.latency[b] = r.latency.get(b, 0) + n
                else:
                    r.latency = buckets
        return sorted(out.values(), key=lambda r: (r.start_ms, r.provider, r.kind or ""))

    def values(
        self, start_ms: int, end_ms: int, field: str, where: Mapping[str, Collection[str | None]] | None = None
    ) -> dict[str | None, dict[int, int]]:
        """A MEASURES field's sketch over the range per value of its group field (rollups_sqlite_series)."""
        return values(self, start_ms, end_ms, field, where)

    def minute_calls(
        self, start_ms: int, end_ms: int, providers: Collection[str] | None = None
    ) -> dict[str, tuple[list[int], list[int]]]:
        """{provider: (calls, failures)} per minute of the range, dense (rollups_sqlite_series)."""
        return minute_calls(self, start_ms, end_ms, providers)
