"""The peers: raw SQLite, tantivy, DuckDB and chDB, each indexing the timestamp, the message and
the same seven keyword fields (common.KEYWORDS) and keeping the whole line.

Each peer has `ingest(path, directory) -> dict` (events, seconds, disk bytes) and a `Queries`
class whose `run(query) -> Answer` gives the newest 50 hits (their lines parsed, as the project
returns events), the exact count and, when asked, five facets and an hourly histogram."""
from __future__ import annotations

import importlib
import importlib.metadata
import sqlite3
import time
from pathlib import Path

import orjson

from .common import (FACET_SIZE, FACETS, HOUR_MS, KEYWORDS, Answer, Query, du_bytes, flat_row, histogram,
                     read_batches, top_values)

COLS = list(KEYWORDS.values())
FACET_COLS = [KEYWORDS[f] for f in FACETS]


def version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def missing(module: str) -> str | None:
    try:
        importlib.import_module(module)
    except ImportError as exc:
        return f"not installed ({exc}); pip install -e '.[bench]'"
    return None


def _sql_str(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _grouped(rows, count_index: int = -1) -> Answer:
    """An Answer's count, facets and histogram from GROUPING SETS rows: (grouping id, facet values…,
    hour, count) where grouping id 0b111111 (nothing grouped) is the total."""
    facets: dict[str, list] = {f: [] for f in FACETS}
    buckets = []
    total = 0
    n = len(FACETS)
    for row in rows:
        gid, values, hour, count = row[0], row[1:1 + n], row[1 + n], row[count_index]
        # grouping(): a bit per argument, 1 = not grouped by it; the first argument is the high bit
        grouped = [i for i in range(n + 1) if not (gid >> (n - i)) & 1]
        if not grouped:
            total = count
        elif grouped == [n]:
            buckets.append((hour, count))
        elif len(grouped) == 1:
            value = values[grouped[0]]
            if value not in (None, ""):
                facets[FACETS[grouped[0]]].append((value, count))
    return Answer(count=total, facets={f: top_values(v) for f, v in facets.items()}, histogram=histogram(buckets))


# -- raw SQLite ---------------------------------------------------------------------------

class RawSQLite:
    """A plain table (the seven keyword columns, ts, message, the line) with B-tree indexes on ts
    and the two lookup keys, and an FTS5 index of the message (external content, positions kept
    for phrases); executemany per batch of 5,000, WAL, synchronous=FULL like the project."""
    name = "sqlite"
    label = "raw SQLite (table + FTS5), executemany per batch"
    package = None

    @staticmethod
    def available() -> str | None:
        return None

    @staticmethod
    def version() -> str:
        return sqlite3.sqlite_version

    @staticmethod
    def connect(directory: Path) -> sqlite3.Connection:
        conn = sqlite3.connect(directory / "events.db", isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA cache_size=-65536")
        return conn

    @classmethod
    def ingest(cls, path: Path, directory: Path) -> dict:
        directory.mkdir(parents=True, exist_ok=True)
        conn = cls.connect(directory)
        conn.executescript(
            f"CREATE TABLE events (id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, {', '.join(c + ' TEXT' for c in COLS)},"
            " message TEXT, line TEXT NOT NULL);"
            "CREATE INDEX events_ts ON events (ts);"
            "CREATE INDEX events_actor ON events (actor_id, ts);"
            "CREATE INDEX events_correlation ON events (correlation_id, ts);"
            "CREATE VIRTUAL TABLE fts USING fts5(message, content='events', content_rowid='id',"
            " tokenize='unicode61 remove_diacritics 2');")
        insert = f"INSERT INTO events (id, ts, {', '.join(COLS)}, message, line) VALUES ({', '.join('?' * (len(COLS) + 4))})"
        next_id = 1
        count = 0
        started = time.perf_counter()
        for lines in read_batches(path):
            rows, texts = [], []
            for line in lines:
                ts, message, *keys = flat_row(orjson.loads(line))
                rows.append((next_id, ts, *keys, message, line.decode()))
                texts.append((next_id, message))
                next_id += 1
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(insert, rows)
            conn.executemany("INSERT INTO fts (rowid, message) VALUES (?, ?)", texts)
            conn.execute("COMMIT")
            count += len(rows)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        return {"events": count, "seconds": time.perf_counter() - started, "disk_bytes": du_bytes(directory)}

    class Queries:
        def __init__(self, directory: Path):
            self.conn = RawSQLite.connect(directory)

        def _ids(self, query: Query) -> tuple[int, int]:
            """The window as an id range: ids ascend with time (the file is in time order)."""
            lo = self.conn.execute("SELECT min(id) FROM events WHERE ts >= ?", (query.start_ms,)).fetchone()[0]
            hi = self.conn.execute("SELECT max(id) FROM events WHERE ts < ?", (query.end_ms,)).fetchone()[0]
            return lo or 0, hi or -1

        def run(self, query: Query) -> Answer:
            conn = self.conn
            lo, hi = self._ids(query)
            if query.kind == "term":
                col = KEYWORDS[query.field]
                hits = conn.execute(f"SELECT ts, line FROM events WHERE {col} = ? AND ts >= ? AND ts < ? "
                                    "ORDER BY ts DESC, id DESC LIMIT ?",
                                    (query.value, query.start_ms, query.end_ms, query.size)).fetchall()
                count = conn.execute(f"SELECT count(*) FROM events WHERE {col} = ? AND ts >= ? AND ts < ?",
                                     (query.value, query.start_ms, query.end_ms)).fetchone()[0]
                return Answer(count=count, hits=[ts for ts, line in hits if orjson.loads(line)])
            if query.kind == "all":
                match, where, params = None, "id BETWEEN ? AND ?", (lo, hi)
                hits = conn.execute("SELECT ts, line FROM events WHERE id BETWEEN ? AND ? ORDER BY id DESC LIMIT ?",
                                    (lo, hi, query.size)).fetchall()
                count = conn.execute("SELECT count(*) FROM events WHERE id BETWEEN ? AND ?", (lo, hi)).fetchone()[0]
            else:
                match = " ".join(f'"{w}"' for w in query.words) if query.kind == "word" else \
                    '"' + " ".join(query.words) + '"'
                where = "id IN (SELECT rowid FROM fts WHERE fts MATCH ? AND rowid BETWEEN ? AND ?)"
                params = (match, lo, hi)
                ids = [r[0] for r in conn.execute(
                    "SELECT rowid FROM fts WHERE fts MATCH ? AND rowid BETWEEN ? AND ? ORDER BY rowid DESC LIMIT ?",
                    (match, lo, hi, query.size))]
                hits = conn.execute(f"SELECT ts, line FROM events WHERE id IN ({','.join('?' * len(ids))}) "
                                    "ORDER BY id DESC", ids).fetchall()
                count = conn.execute("SELECT count(*) FROM fts WHERE fts MATCH ? AND rowid BETWEEN ? AND ?",
                                     (match, lo, hi)).fetchone()[0]
            answer = Answer(count=count, hits=[ts for ts, line in hits if orjson.loads(line)])
            if query.facets:
                combos = conn.execute(f"SELECT {', '.join(FACET_COLS)}, count(*) FROM events WHERE {where} "
                                      f"GROUP BY {', '.join(FACET_COLS)}", params).fetchall()
                for i, name in enumerate(FACETS):
                    counts: dict = {}
                    for row in combos:
                        if row[i] is not None:
                            counts[row[i]] = counts.get(row[i], 0) + row[-1]
                    answer.facets[name] = top_values(counts.items())
                answer.histogram = histogram(conn.execute(
                    f"SELECT (ts / {HOUR_MS}) * {HOUR_MS}, count(*) FROM events WHERE {where} GROUP BY 1", params))
            return answer

        def close(self) -> None:
            self.conn.close()


# -- tantivy ------------------------------------------------------------------------------

class Tantivy:
    """tantivy (Python bindings), 2 indexing threads: ts an i64 fast field of epoch ms (the
    bindings' date fields keep whole seconds only, which would reorder hits within a second),
    message with the default tokenizer and positions, the seven keyword fields raw and fast, the
    whole line stored (not indexed). One commit at the end, then the merges are waited for."""
    name = "tantivy"
    label = "tantivy (Python bindings, 2 indexing threads), text + fast fields"
    package = "tantivy"

    @staticmethod
    def available() -> str | None:
        return missing("tantivy")

    @staticmethod
    def version() -> str | None:
        return version("tantivy")

    @staticmethod
    def schema():
        import tantivy
        builder = tantivy.SchemaBuilder()
        builder.add_integer_field("ts", stored=False, indexed=True, fast=True)
        builder.add_text_field("message", tokenizer_name="default", index_option="position")
        for col in COLS:
            builder.add_text_field(col, tokenizer_name="raw", fast=True, index_option="basic")
        builder.add_bytes_field("line", stored=True)
        return builder.build()

    @classmethod
    def ingest(cls, path: Path, directory: Path) -> dict:
        import base64
        import tantivy
        directory.mkdir(parents=True, exist_ok=True)
        index = tantivy.Index(cls.schema(), path=str(directory))
        writer = index.writer(heap_size=256_000_000, num_threads=2)
        b64 = base64.b64encode
        count = 0
        started = time.perf_counter()
        for lines in read_batches(path):
            for line in lines:
                ts, message, *keys = flat_row(orjson.loads(line))
                doc = {"ts": ts, "line": b64(line).decode()}
                if message is not None:
                    doc["message"] = message
                for col, value in zip(COLS, keys):
                    if value is not None:
                        doc[col] = value
                writer.add_json(orjson.dumps(doc).decode())
            count += len(lines)
        writer.commit()
        writer.wait_merging_threads()
        return {"events": count, "seconds": time.perf_counter() - started, "disk_bytes": du_bytes(directory)}

    class Queries:
        def __init__(self, directory: Path):
            import tantivy
            self.t = tantivy
            self.index = tantivy.Index.open(str(directory))
            self.schema = self.index.schema
            self.searcher = self.index.searcher()

        def _query(self, query: Query):
            t, schema = self.t, self.schema
            window = t.Query.range_query(schema, "ts", t.FieldType.Integer, query.start_ms, query.end_ms,
                                         include_upper=False)
            if query.kind == "term":
                q = t.Query.term_query(schema, KEYWORDS[query.field], query.value)
            elif query.kind == "word":
                words = query.words
                q = t.Query.term_query(schema, "message", words[0]) if len(words) == 1 else \
                    t.Query.boolean_query([(t.Occur.Must, t.Query.term_query(schema, "message", w)) for w in words])
            elif query.kind == "phrase":
                q = t.Query.phrase_query(schema, "message", query.words)
            else:
                return window
            return t.Query.boolean_query([(t.Occur.Must, q), (t.Occur.Must, window)])

        def run(self, query: Query) -> Answer:
            q = self._query(query)
            searcher = self.searcher
            result = searcher.search(q, query.size, count=True, order_by_field="ts", order=self.t.Order.Desc)
            hits = []
            for ts, address in result.hits:
                orjson.loads(searcher.doc(address)["line"][0])
                hits.append(ts)
            answer = Answer(count=result.count, hits=hits)
            if query.facets:
                aggs = {f: {"terms": {"field": KEYWORDS[f], "size": FACET_SIZE}} for f in FACETS}
                aggs["hours"] = {"histogram": {"field": "ts", "interval": HOUR_MS}}
                out = searcher.aggregate(q, aggs)
                answer.facets = {f: top_values((b["key"], b["doc_count"]) for b in out[f]["buckets"]) for f in FACETS}
                answer.histogram = histogram((b["key"], b["doc_count"]) for b in out["hours"]["buckets"])
            return answer

        def close(self) -> None:
            pass


# -- DuckDB -------------------------------------------------------------------------------

def _duckdb_fts(conn) -> str | None:
    """Load the fts extension: from the duckdb-ext-fts wheel when installed, else the usual
    INSTALL (needs the network). None when loaded, else why not."""
    try:
        import duckdb_ext  # the duckdb-ext-* wheels put the extension files here
        import duckdb
        for base in duckdb_ext.__path__:
            candidates = list(Path(base).glob(f"extensions/v{duckdb.__version__}/*/fts.duckdb_extension"))
            if candidates:
                conn.execute(f"LOAD '{candidates[0]}'")
                return None
    except Exception:  # noqa: BLE001 (fall through to INSTALL)
        pass
    try:
        conn.execute("INSTALL fts")
        conn.execute("LOAD fts")
        return None
    except Exception as exc:  # noqa: BLE001
        return str(exc).splitlines()[0]


class DuckDB:
    """DuckDB: the file loaded by DuckDB's own NDJSON reader (read_ndjson_objects, each line kept
    whole, the fields extracted in one JSON parse), then the full-text index built (PRAGMA
    create_fts_index on message: no stemmer, no stop words, letters and digits as tokens).
    Word queries read the index's own tables (dict, terms, docs) as a semi-join, which is much
    faster than scoring every row with match_bm25; phrases take both words from the index and
    check the phrase on the message. Without the fts extension: ILIKE/regexp on the message."""
    name = "duckdb"
    label = "DuckDB, load + full-text index build"
    package = "duckdb"
    fts_note: str | None = None

    @staticmethod
    def available() -> str | None:
        return missing("duckdb")

    @staticmethod
    def version() -> str | None:
        return version("duckdb")

    @classmethod
    def ingest(cls, path: Path, directory: Path) -> dict:
        import duckdb
        directory.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        conn = duckdb.connect(str(directory / "events.duckdb"))
        no_fts = _duckdb_fts(conn)
        paths = ", ".join(f"'$.{p}'" for p in KEYWORDS)
        conn.execute(
            f"CREATE TABLE events (id BIGINT, ts BIGINT, {', '.join(c + ' VARCHAR' for c in COLS)}, message VARCHAR,"
            " line VARCHAR)")
        conn.execute(
            f"INSERT INTO events SELECT row_number() OVER () - 1, epoch_ms(CAST(v[1] AS TIMESTAMP)), "
            + ", ".join(f"v[{i + 3}]" for i in range(len(COLS))) + ", v[2], line FROM ("
            f"SELECT json AS line, json_extract_string(json, ['$.\"@timestamp\"', '$.message', {paths}]) AS v "
            f"FROM read_ndjson_objects('{path}'))")
        loaded = time.perf_counter() - started
        if no_fts is None:
            conn.execute("PRAGMA create_fts_index('events', 'id', 'message', stemmer='none', stopwords='none', "
                         "ignore='[^a-z0-9]+', strip_accents=1, lower=1)")
        conn.execute("CHECKPOINT")
        (count,) = conn.execute("SELECT count(*) FROM events").fetchone()
        conn.close()
        return {"events": count, "seconds": time.perf_counter() - started, "load_seconds": loaded,
                "disk_bytes": du_bytes(directory), "note": None if no_fts is None else
                f"fts extension unavailable ({no_fts}): words and phrases by ILIKE/regexp, no index"}

    class Queries:
        def __init__(self, directory: Path):
            import duckdb
            self.conn = duckdb.connect(str(directory / "events.duckdb"), read_only=True)
            self.fts = _duckdb_fts(self.conn) is None and bool(self.conn.execute(
                "SELECT count(*) FROM information_schema.schemata WHERE schema_name = 'fts_main_events'").fetchone()[0])

        def _where(self, query: Query) -> tuple[str, list]:
            where, params = "ts >= ? AND ts < ?", [query.start_ms, query.end_ms]
            if query.kind == "term":
                return where + f" AND {KEYWORDS[query.field]} = ?", params + [query.value]
            if query.kind in ("word", "phrase"):
                for word in query.words:
                    if self.fts:
                        where += (" AND id IN (SELECT d.name FROM fts_main_events.terms t JOIN fts_main_events.docs d"
                                  " ON t.docid = d.docid WHERE t.termid = (SELECT termid FROM fts_main_events.dict"
                                  " WHERE term = ?))")
                    else:
                        where += " AND regexp_matches(message, ?, 'i')"
                        word = rf"(^|[^a-zA-Z0-9]){word}([^a-zA-Z0-9]|$)"
                    params.append(word)
                if query.kind == "phrase":
                    where += " AND contains(lower(message), ?)"
                    params.append(" ".join(query.words))
            return where, params

        def run(self, query: Query) -> Answer:
            where, params = self._where(query)
            hits = self.conn.execute(f"SELECT ts, line FROM events WHERE {where} ORDER BY ts DESC LIMIT {query.size}",
                                     params).fetchall()
            if query.facets:
                cols = ", ".join(FACET_COLS)
                sets = ", ".join(f"({c})" for c in FACET_COLS)
                rows = self.conn.execute(
                    f"SELECT grouping({cols}, h), {cols}, h, count(*) FROM (SELECT {cols}, (ts // {HOUR_MS}) * {HOUR_MS}"
                    f" AS h FROM events WHERE {where}) GROUP BY GROUPING SETS ({sets}, (h), ())", params).fetchall()
                answer = _grouped(rows)
            else:
                answer = Answer(count=self.conn.execute(f"SELECT count(*) FROM events WHERE {where}", params).fetchone()[0])
            answer.hits = [ts for ts, line in hits if orjson.loads(line)]
            return answer

        def close(self) -> None:
            self.conn.close()


# -- chDB ---------------------------------------------------------------------------------

class ChDB:
    """chDB (embedded ClickHouse): MergeTree ordered by ts; message with a text index (tokens of
    letters and digits, lower-cased: case-insensitive like the others); bloom filters on the two
    lookup keys; keyword fields LowCardinality; message and line ZSTD. Loaded by ClickHouse's own
    reader (the file as lines, fields by JSONExtract), then OPTIMIZE FINAL before measuring disk."""
    name = "chdb"
    label = "chDB (embedded ClickHouse), text index"
    package = "chdb"

    @staticmethod
    def available() -> str | None:
        return missing("chdb")

    @staticmethod
    def version() -> str | None:
        v = version("chdb")
        core = version("chdb-core")
        return f"{v} (ClickHouse {core})" if core else v

    @staticmethod
    def session(directory: Path):
        from chdb import session
        return session.Session(str(directory))

    @classmethod
    def ingest(cls, path: Path, directory: Path) -> dict:
        directory.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        sess = cls.session(directory)
        low = {"level", "service", "outcome", "actor_type", "provider"}
        cols = ", ".join(f"{c} {'LowCardinality(String)' if c in low else 'String'}" for c in COLS)
        sess.query(
            f"CREATE TABLE events (ts DateTime64(3, 'UTC') CODEC(Delta, ZSTD), {cols}, "
            "message String CODEC(ZSTD(3)), line String CODEC(ZSTD(3)), "
            "INDEX msg message TYPE text(tokenizer = splitByNonAlpha, preprocessor = lower(message)), "
            "INDEX actor actor_id TYPE bloom_filter GRANULARITY 1, "
            "INDEX corr correlation_id TYPE bloom_filter GRANULARITY 1) "
            "ENGINE = MergeTree ORDER BY ts")
        extract = ", ".join(f"JSONExtractString(line, {', '.join(_sql_str(p) for p in name.split('.'))})"
                            for name in KEYWORDS)
        sess.query(
            f"INSERT INTO events SELECT parseDateTime64BestEffort(JSONExtractString(line, '@timestamp'), 3, 'UTC'), "
            f"{extract}, JSONExtractString(line, 'message'), line FROM file({_sql_str(str(path))}, 'LineAsString')")
        sess.query("OPTIMIZE TABLE events FINAL")
        count = int(sess.query("SELECT count() FROM events", "CSV").bytes().strip())
        sess.close()
        return {"events": count, "seconds": time.perf_counter() - started, "disk_bytes": du_bytes(directory)}

    class Queries:
        def __init__(self, directory: Path):
            self.sess = ChDB.session(directory)

        def _where(self, query: Query) -> str:
            where = (f"ts >= fromUnixTimestamp64Milli({query.start_ms}, 'UTC') "
                     f"AND ts < fromUnixTimestamp64Milli({query.end_ms}, 'UTC')")
            if query.kind == "term":
                where += f" AND {KEYWORDS[query.field]} = {_sql_str(query.value)}"
            elif query.kind == "word":
                where += " AND " + " AND ".join(f"hasToken(message, {_sql_str(w)})" for w in query.words)
            elif query.kind == "phrase":
                where += (f" AND hasAllTokens(message, [{', '.join(_sql_str(w) for w in query.words)}])"
                          f" AND positionCaseInsensitiveUTF8(message, {_sql_str(' '.join(query.words))}) > 0")
            return where

        def _rows(self, sql: str) -> list:
            out = self.sess.query(sql, "JSONCompactEachRow").bytes()
            return [orjson.loads(line) for line in out.splitlines() if line]

        def run(self, query: Query) -> Answer:
            where = self._where(query)
            hits = self._rows(f"SELECT toUnixTimestamp64Milli(ts), line FROM events WHERE {where} "
                              f"ORDER BY ts DESC LIMIT {query.size}")
            if query.facets:
                cols = ", ".join(FACET_COLS)
                sets = ", ".join(f"({c})" for c in FACET_COLS)
                rows = self._rows(
                    f"SELECT grouping({cols}, h), {cols}, h, count() FROM (SELECT {cols}, "
                    f"intDiv(toUnixTimestamp64Milli(ts), {HOUR_MS}) * {HOUR_MS} AS h FROM events WHERE {where}) "
                    f"GROUP BY GROUPING SETS ({sets}, (h), ())")
                answer = _grouped([[int(r[0]), *r[1:-1], int(r[-1])] for r in rows])
            else:
                answer = Answer(count=int(self._rows(f"SELECT count() FROM events WHERE {where}")[0][0]))
            answer.hits = [int(ts) for ts, line in hits if orjson.loads(line)]
            return answer

        def close(self) -> None:
            self.sess.close()


PEERS = {cls.name: cls for cls in (RawSQLite, Tantivy, DuckDB, ChDB)}
