"""Prototype index layouts: the events of a store rebuilt into one tantivy index per variant of
the schema and conversion, printed as bytes an event against the unchanged layout ("base").

    cp -r var/bench/support-200000-20261203/events /tmp/su/events200k     # work on a copy
    .venv/bin/python bench/space_usage/variants.py --store /tmp/su/events200k --out /tmp/su/idx \\
        base ids_fast_only id_hash32 ids_fast_only+unique_not_fast+id_hash32+no_ts+num_scaled

A variant is a `+`-joined list of changes (see CHANGES). Documents are made by the store's own
Python conversion (Converter.python_document) and changed afterwards; the index keeps no field
norms (as app/storage/tantivy_writer.create_index); one writer thread with a large heap, so 200,000
events make one segment. Then `bench/space_usage/target/release/space_usage OUT/VARIANT` for the
per-field figures. Nothing here is used by the product; the store is only read.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import time
from pathlib import Path

import orjson
import tantivy

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from app.events.schema import load_schema  # noqa: E402
from app.storage import tantivy_schema as ts  # noqa: E402
from app.storage.tantivy_docs import DocumentCodec  # noqa: E402

CHANGES = {
    "ids_fast_only": "identifier values out of `f` into `fx`, a JSON field with a fast column and no index",
    "unique_not_fast": "(with ids_fast_only) the nearly unique identifiers in no fast column either",
    "id_hash64": "event.id as a 64-bit hash in an indexed u64 field instead of the text field `id`",
    "id_hash32": "the same with a 32-bit hash",
    "num_scaled": "decimal values as whole numbers of their last decimal (durations x10, money x100)",
    "all_freq": "`all`/`pall` without positions (doc ids and frequencies)",
    "all_basic": "`all`/`pall` with doc ids only",
    "no_ts": "no `ts` fast column (histograms on seq, interval << 22)",
    "no_keys": "no `keys` field",
}
UNIQUE = [
    ("http", "request", "id"),
    ("correlation", "id"),
    ("game", "round_id"),
    ("session", "id"),
    ("trace", "id"),
    ("span", "id"),
    ("payment", "transaction_id"),
    ("payment", "provider_reference"),
]
SCALED = {("http", "duration"): 10, ("integration", "duration"): 10, ("game", "bet"): 100, ("game", "win"): 100}
SCALED[("payment", "amount")] = 100
IDS = [f.path for f in load_schema().fields.values() if f.identifier]


def read_store(store: Path) -> list[tuple[int, dict]]:
    """(seq, event) of every event of a store's events directory, in seq order within a partition."""
    codec = DocumentCodec(store)
    out = []
    for part in sorted((store / "parts").glob("*/s*")):
        searcher = tantivy.Index.open(str(part)).searcher()
        all_hits = tantivy.Query.all_query()
        hits = searcher.search(all_hits, searcher.num_docs, count=False, order_by_field="seq", order=tantivy.Order.Asc).hits
        out += [(seq, codec.decode(searcher.doc(address)["doc"][0])) for seq, address in hits]
    return out


def schema(changes: set[str]) -> tantivy.Schema:
    b = tantivy.SchemaBuilder()
    b.add_unsigned_field("seq", fast=True)
    if "no_ts" not in changes:
        b.add_integer_field("ts", fast=True)
    b.add_json_field("f", fast=True, tokenizer_name="raw", index_option="basic")
    for name in ts.FULLTEXT.values():
        b.add_text_field(name, tokenizer_name=ts.WORDS, index_option="position")
    if changes & {"id_hash32", "id_hash64"}:
        b.add_unsigned_field("idh", indexed=True)
    else:
        b.add_text_field("id", tokenizer_name=ts.LOWER, index_option="basic")
    if "no_keys" not in changes:
        b.add_text_field("keys", tokenizer_name=ts.LOWER, index_option="basic")
    b.add_bytes_field("doc", stored=True)
    b.add_text_field("pkeys", tokenizer_name=ts.LOWER, index_option="basic")
    words = "basic" if "all_basic" in changes else "freq" if "all_freq" in changes else "position"
    b.add_text_field("all", tokenizer_name=ts.WORDS, index_option=words)
    b.add_text_field("pall", tokenizer_name=ts.WORDS, index_option=words)
    b.add_json_field("fi", tokenizer_name=ts.LOWER, index_option="basic")
    if "ids_fast_only" in changes:
        b.add_json_field("fx", fast=True, tokenizer_name="raw", index_option="basic")  # unindexed: see build()
    return b.build()


def _pop(node, path):
    for part in path[:-1]:
        node = node.get(part) if type(node) is dict else None
    return node.pop(path[-1], None) if type(node) is dict else None


def _put(node, path, value):
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = value


def change(changes: set[str], line: dict) -> dict:
    if changes & {"id_hash32", "id_hash64"}:
        h = int.from_bytes(hashlib.blake2b(line.pop("id").lower().encode(), digest_size=8).digest(), "big")
        line["idh"] = h >> 32 if "id_hash32" in changes else h
    if "ids_fast_only" in changes:
        fx: dict = {}
        for path in IDS:
            value = _pop(line["f"], path)
            if value is not None and not ("unique_not_fast" in changes and path in UNIQUE):
                _put(fx, path, value)
        line["fx"] = fx
    if "num_scaled" in changes:
        for path, scale in SCALED.items():
            value = _pop(line["f"], path)
            if type(value) in (int, float):
                _put(line["f"], path, round(value * scale))
    if "no_keys" in changes:
        line.pop("keys", None)
    if "no_ts" in changes:
        line.pop("ts", None)
    return line


def build(events: list[tuple[int, dict]], codec: DocumentCodec, out: Path, variant: str) -> None:
    changes = set(variant.split("+")) - {"base"}
    unknown = changes - set(CHANGES)
    if unknown:
        sys.exit(f"unknown change(s) {sorted(unknown)}; known: {', '.join(CHANGES)}")
    path = out / variant
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    tantivy.Index(schema(changes), path=str(path), reuse=False)
    meta = orjson.loads((path / "meta.json").read_bytes())
    for field in meta["schema"]:
        options = field["options"]
        if options.get("fieldnorms"):
            options["fieldnorms"] = False
        if (options.get("indexing") or {}).get("fieldnorms"):
            options["indexing"]["fieldnorms"] = False
        if field["name"] == "fx":
            options["indexing"] = None  # a fast column only (tantivy-py cannot say so)
    (path / "meta.json").write_bytes(orjson.dumps(meta, option=orjson.OPT_INDENT_2))
    index = tantivy.Index.open(str(path))
    for name, analyzer in ts.analyzers().items():
        index.register_tokenizer(name, analyzer)
    converter = ts.Converter(codec.encode, codec.encode_json)
    lines = [
        orjson.dumps(change(changes, orjson.loads(converter.python_document(event, seq, seq >> ts.SEQ_BITS)))).decode()
        for seq, event in events
    ]
    writer = index.writer(1_500_000_000, 1)
    started = time.process_time()
    for line in lines:
        writer.add_json(line)
    writer.commit()
    writer.wait_merging_threads()
    cpu = time.process_time() - started
    segments = len(orjson.loads((path / "meta.json").read_bytes())["segments"])
    size = sum(p.stat().st_size for p in path.iterdir() if p.is_file() and p.suffix not in (".json", ".lock"))
    print(
        f"{variant}: {len(events)} events, {segments} segment(s), {size / len(events):.1f} B/event, indexing CPU {cpu:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, required=True, help="a copy of a store's events directory")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("variants", nargs="+")
    args = parser.parse_args()
    events = read_store(args.store)
    codec = DocumentCodec(args.store)  # the store's own trained dictionary
    for variant in args.variants:
        build(events, codec, args.out, variant)


if __name__ == "__main__":
    main()
