"""Where the corpus looks for strings that must never be stored or shown.

disk_hits(world, needles): every file of the data directory, byte for byte (the SQLite
databases, their -wal and -shm files, everything else there), in the encodings a value can take
(UTF-8, JSON escapes, and for digit strings the big-endian integer and IEEE double SQLite and
FTS store), plus a logical read of every SQLite database (every row of every table and every
token of every FTS5 index: FTS terms are prefix-compressed on disk, so bytes alone miss them);
on OpenSearch, additionally the stored _source of every document under the world's prefix
(the events and the reading trail).

answer_texts(response): the texts a reader receives: the body as sent, HTML-unescaped, and for
JSON every key and value decoded (JSON escapes \\uXXXX hide nothing)."""
from __future__ import annotations

import html
import json
import sqlite3
import struct
from pathlib import Path

import orjson


def _encodings(needle: str) -> list[bytes]:
    out = {needle.encode("utf-8", "surrogatepass"), json.dumps(needle)[1:-1].encode(),
           json.dumps(needle, ensure_ascii=False)[1:-1].encode("utf-8", "surrogatepass")}
    if needle.isdigit() and 0 < int(needle) < 2 ** 63:
        n = int(needle)
        out.add(struct.pack(">q", n))                  # SQLite record / FTS integer
        if n < 2 ** 47:
            out.add(struct.pack(">q", n)[2:])          # SQLite's 6-byte integer
        if float(n) == n:
            out.add(struct.pack(">d", float(n)))        # REAL column
    return sorted(out)


def _flatten(value, out: list[str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            out.append(str(k))
            _flatten(v, out)
    elif isinstance(value, list):
        for v in value:
            _flatten(v, out)
    elif isinstance(value, float):
        out.append(repr(value))
        if value.is_integer() and abs(value) < 1e20:
            out.append(str(int(value)))
    elif isinstance(value, bytes):
        out.append(value.decode("utf-8", "replace"))
    elif value is not None:
        out.append(str(value))


def sqlite_logical(db: Path) -> str:
    """Every value of every row of every table, and every FTS5 index's vocabulary."""
    texts: list[str] = []
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        tables = connection.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'").fetchall()
        for name, sql in tables:
            quoted = '"' + name.replace('"', '""') + '"'
            if sql and "USING FTS5" in sql.upper():
                vocab = f"v_{abs(hash(name))}"
                connection.execute(f"CREATE VIRTUAL TABLE temp.{vocab} USING fts5vocab(main, {quoted}, 'row')")
                texts += [str(row[0]) for row in connection.execute(f"SELECT term FROM temp.{vocab}")]
                continue
            try:
                rows = connection.execute(f"SELECT * FROM {quoted}").fetchall()
            except sqlite3.DatabaseError:   # an FTS shadow table of a tokenizer we cannot load, etc.
                continue
            for row in rows:
                _flatten(list(row), texts)
    finally:
        connection.close()
    return "\n".join(texts)


def tantivy_logical(store_dir: Path) -> str:
    """Every stored document of a tantivy store, decoded (its documents are zstd-compressed, so
    a byte scan cannot see inside them), and the vocabulary of its text fields. Every indexed
    value derives from the document, so this is everything the store keeps."""
    from app.storage import SearchRequest, open_store
    from app.storage.tantivy_schema import FULLTEXT
    texts: list[str] = []
    store = open_store(f"tantivy://{store_dir}")
    try:
        cursor = None
        while True:
            page = store.search(SearchRequest(size=1000, cursor=cursor, newest_first=False, total_bound=0))
            texts += [orjson.dumps(hit).decode() for hit in page.hits]
            cursor = page.next_cursor
            if cursor is None:
                break
        for span in store.partitions():
            for index in store.shard_indexes(span.name):
                searcher = index.searcher()
                for field in (*FULLTEXT.values(), "id", "keys"):
                    texts += [str(term) for term, _ in searcher.terms_with_prefix(field, "")]
    finally:
        store.close()
    return "\n".join(texts)


_WORKER = None


def file_hits(directory: Path, needles: list[str]) -> dict[str, list[str]]:
    """needle -> where it was found (file, or "file (rows/tokens)" for a database's contents).

    Read in a worker process, never in this one: closing any descriptor of a file releases every
    POSIX lock the process holds on it, so reading a live SQLite database (or its -shm) from the
    process whose app has it open drops SQLite's locks; another process (the CLI) then believes it
    is the last user, checkpoints and deletes the WAL, and the app reads "file is not a database"."""
    global _WORKER
    if _WORKER is None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        _WORKER = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    return _WORKER.submit(_file_hits, str(directory), list(needles)).result()


def shutdown() -> None:
    global _WORKER
    if _WORKER is not None:
        _WORKER.shutdown()
        _WORKER = None


def _file_hits(directory: str, needles: list[str]) -> dict[str, list[str]]:
    directory = Path(directory)
    found: dict[str, list[str]] = {}
    files = sorted(p for p in Path(directory).rglob("*") if p.is_file())
    encoded = {n: _encodings(n) for n in needles}
    for path in files:
        try:
            data = path.read_bytes()
        except FileNotFoundError:   # a tantivy segment merged away while we looked
            continue
        for needle, forms in encoded.items():
            if any(form in data for form in forms):
                found.setdefault(needle, []).append(str(path.relative_to(directory)))
        if path.name == "store.json" and b'"tantivy' in data:
            logical = tantivy_logical(path.parent)
            for needle in needles:
                if needle in logical:
                    found.setdefault(needle, []).append(f"{path.parent.relative_to(directory)} (documents/terms)")
        if data.startswith(b"SQLite format 3\x00"):
            logical = sqlite_logical(path)
            for needle in needles:
                if needle in logical:
                    found.setdefault(needle, []).append(f"{path.relative_to(directory)} (rows/tokens)")
    return found


def opensearch_documents(node_url: str, prefix: str) -> list[dict]:
    """The _source of every document under `prefix` (event and trail indices), after a refresh."""
    from opensearchpy import OpenSearch
    client = OpenSearch(node_url, timeout=120)
    try:
        client.indices.refresh(index=f"{prefix}*", params={"ignore_unavailable": "true", "allow_no_indices": "true"})
        docs, after = [], None
        while True:
            body = {"size": 2000, "query": {"match_all": {}}, "sort": [{"_doc": "asc"}]}
            answer = client.search(index=f"{prefix}*", body={**body, **({"search_after": after} if after else {})},
                                   params={"ignore_unavailable": "true", "allow_no_indices": "true"})
            hits = answer["hits"]["hits"]
            docs += [{"_index": h["_index"], "_id": h["_id"], "_source": h["_source"]} for h in hits]
            if len(hits) < 2000:
                return docs
            after = hits[-1]["sort"]
    finally:
        client.close()


def opensearch_hits(node_url: str, prefix: str, needles: list[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for doc in opensearch_documents(node_url, prefix):
        texts: list[str] = [doc["_id"]]
        _flatten(doc["_source"], texts)
        text = "\n".join(texts)
        for needle in needles:
            if needle in text:
                found.setdefault(needle, []).append(f"{doc['_index']}/{doc['_id']} (_source)")
    return found


def answer_texts(body: bytes, content_type: str = "") -> list[str]:
    """What a reader gets from one answer, in every form a needle could hide in."""
    text = body.decode("utf-8", "replace")
    texts = [text, html.unescape(text)]
    if "json" in content_type:
        lines = [body] if "ndjson" not in content_type else body.splitlines()
        for line in lines:
            try:
                value = json.loads(line)
            except ValueError:
                continue
            flat: list[str] = []
            _flatten(value, flat)
            texts.append("\n".join(flat))
    return texts


def answer_hits(body: bytes, content_type: str, needles: list[str]) -> list[str]:
    texts = answer_texts(body, content_type)
    return [n for n in needles if any(n in t for t in texts)]
