"""The rollup tables' dictionary of keys, and the migration from the first layout.

A rollup row's key — the count dimensions' values, or a provider with its kind (and status) — is
stored once, in `rollup_keys`, as the JSON array of its values; the rows carry its integer id
(one or two bytes). Ids are never reused nor removed (a rebuild replaces numbers, not keys), so
a process may keep the dictionary in memory: `Keys` loads what others added since when it meets
an id it does not know, and forgets everything after a rolled-back transaction (the ids that
transaction inserted are gone).

The first layout (`rollup_counts`, `rollup_providers`, `rollup_latency`: the values as text in
each row and again in a JSON key, times in ms) is copied into the present one when a store opens
it, in one transaction, then dropped (`migrate_v1`). Counts keys stored before a dimension was
added are read with None for it (and `rollup_meta` says which dimensions every row knows). Its
counts were kept by five dimensions; the integration call's three come after them as nulls, and
`rollup_meta` says only the first five may be asked until a rebuild of every stored minute.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

import orjson

COUNTS, PROVIDERS, LATENCY, VALUES = 0, 1, 2, 3  # families of keys
COUNT_DIMENSIONS = 9  # values in a counts key (model.COUNT_DIMENSIONS)
KEYS_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS rollup_keys (id INTEGER PRIMARY KEY, family INTEGER NOT NULL, key BLOB NOT NULL);"
    "CREATE UNIQUE INDEX IF NOT EXISTS rollup_keys_by_value ON rollup_keys (family, key);"
)


class Keys:
    """(family, values) <-> id, as far as this process has seen them."""

    def __init__(self):
        self._ids: dict[tuple[int, tuple], int] = {}
        self._values: dict[int, tuple[int, tuple]] = {}
        self._seen = 0
        self._lock = threading.Lock()

    def forget(self) -> None:
        with self._lock:
            self._ids, self._values, self._seen = {}, {}, 0

    def load(self, conn) -> None:
        """The keys added since the last load (by anyone)."""
        with self._lock:
            for ident, family, key in conn.execute(
                "SELECT id, family, key FROM rollup_keys WHERE id > ? ORDER BY id", (self._seen,)
            ):
                values = tuple(orjson.loads(key))
                if family == COUNTS and len(values) < COUNT_DIMENSIONS:  # kept before a dimension was added
                    values += (None,) * (COUNT_DIMENSIONS - len(values))
                self._ids[(family, values)] = ident
                self._values[ident] = (family, values)
                self._seen = ident

    def ids(self, conn, family: int, tuples: Iterable[tuple]) -> dict[tuple, int]:
        """The id of each key (inside the caller's write transaction), added when new."""
        out: dict[tuple, int] = {}
        missing = []
        for values in tuples:
            found = self._ids.get((family, values))
            if found is None:
                missing.append(values)
            else:
                out[values] = found
        if missing:
            blobs = [(family, orjson.dumps(values)) for values in missing]
            conn.executemany("INSERT OR IGNORE INTO rollup_keys (family, key) VALUES (?, ?)", blobs)
            with self._lock:
                for values, args in zip(missing, blobs, strict=True):
                    (ident,) = conn.execute("SELECT id FROM rollup_keys WHERE family = ? AND key = ?", args).fetchone()
                    self._ids[(family, values)] = ident
                    self._values[ident] = (family, values)
                    out[values] = ident
        return out

    def of_family(self, conn, family: int) -> dict[int, tuple]:
        """id -> values of every key of a family (read from the database first)."""
        self.load(conn)
        return {ident: values for ident, (f, values) in self._values.items() if f == family}


# -- the first layout -----------------------------------------------------------------------

V1_TABLES = ("rollup_counts", "rollup_providers", "rollup_latency")
_CHUNK = 20_000


def has_v1(conn) -> bool:
    return (
        conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN (?, ?, ?)", V1_TABLES).fetchone()[
            0
        ]
        > 0
    )


def migrate_v1(conn, keys: Keys) -> int:
    """Copy the first layout's rows into the present tables and drop it (inside the caller's
    write transaction); the rows copied."""
    present = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    copies = {
        "rollup_counts": (
            ("SELECT width / 60000, minute_ms / 60000, component, type, level, outcome, service, n FROM rollup_counts"),
            COUNTS,
            5,  # keyed by the first five dimensions
            ("INSERT INTO counts_by_key VALUES (?, ?, ?, ?) ON CONFLICT (w, m, k) DO UPDATE SET n = n + excluded.n"),
        ),
        "rollup_providers": (
            (
                "SELECT width / 60000, minute_ms / 60000, provider, kind, status, calls, failures, timeouts "
                "FROM rollup_providers"
            ),
            PROVIDERS,
            3,
            (
                "INSERT INTO calls_by_key VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (w, m, k) DO UPDATE SET "
                "calls = calls + excluded.calls, failures = failures + excluded.failures, "
                "timeouts = timeouts + excluded.timeouts"
            ),
        ),
        "rollup_latency": (
            "SELECT width / 60000, minute_ms / 60000, provider, kind, bucket, n FROM rollup_latency",
            LATENCY,
            2,
            ("INSERT INTO latency_by_key VALUES (?, ?, ?, ?, ?) ON CONFLICT (w, m, k, b) DO UPDATE SET n = n + excluded.n"),
        ),
    }
    copied = 0
    for table, (select, family, width, insert) in copies.items():
        if table not in present:
            continue
        cursor = conn.execute(select)
        while True:
            rows = cursor.fetchmany(_CHUNK)
            if not rows:
                break
            pad = (None,) * (COUNT_DIMENSIONS - width) if family == COUNTS else ()
            ids = keys.ids(conn, family, {tuple(row[2 : 2 + width]) + pad for row in rows})
            conn.executemany(
                insert, [(row[0], row[1], ids[tuple(row[2 : 2 + width]) + pad], *row[2 + width :]) for row in rows]
            )
            copied += len(rows)
        conn.execute(f"DROP TABLE {table}")
    return copied
