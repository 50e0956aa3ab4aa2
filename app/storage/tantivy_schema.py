"""How an event becomes a tantivy document: the index's fields, its analyzers, and the one
conversion every write goes through.

Nine indexed fields, whatever the event holds (a tantivy text field costs a byte per document
for its field norms, so the schema's 67 fields are folded into two JSON fields)):

  seq      u64, fast: (event time ms << SEQ_BITS) | (shard << COUNTER_BITS) | counter — unique
           and time-ordered: sort key, cursor and time window (a fast-field range)
  ts       i64, fast: event time in ms (histograms)
  k        JSON, fast, raw terms, by field name: the promoted columns of schema.yaml (`column:`)
           and every number, date (as epoch ms) and boolean — what facets, ranges and exact
           filters read: `k.log.level`, `k.actor.id`, `k.http.response.status_code`
  attrs    JSON, raw terms: every other structured value, by its path (`attrs.payment.currency`,
           `attrs.labels.env`, `attrs.changes.field`)
  message, body, stack   the full-text fields (`message`, `error.message`,
           `error.stack_trace`): words folded to lower case without accents, with positions
  keys     the exact ids in lower case (event, player, target, correlation, session,
           transaction, round): a bare word finds an id whatever its case
  present  the dotted path of every field and namespace the event has (`field:*`)
  doc      the event as JSON, stored (compressed in blocks by tantivy), never indexed
"""
from __future__ import annotations

import base64
from datetime import datetime
from functools import lru_cache

import orjson
import tantivy

from ..events.schema import load_schema

SEQ_BITS = 22            # low bits of seq under the time: shard and counter
COUNTER_BITS = 16        # events per millisecond per shard before spilling into the next ms
MAX_SHARDS = 1 << (SEQ_BITS - COUNTER_BITS)
LAYOUT = "tantivy-1"     # written to the store's layout file; bumped when documents change shape

FULLTEXT = {("message",): "message", ("error", "message"): "body", ("error", "stack_trace"): "stack"}
WORDS, LOWER = "words", "lower"


def analyzers() -> dict[str, tantivy.TextAnalyzer]:
    """Runs of letters and digits, lower case, accents folded — as FTS5's unicode61 with
    remove_diacritics and the OpenSearch analyzer split them; and whole values in lower case."""
    B, T, F = tantivy.TextAnalyzerBuilder, tantivy.Tokenizer, tantivy.Filter
    return {WORDS: B(T.simple()).filter(F.remove_long(255)).filter(F.lowercase()).filter(F.ascii_fold()).build(),
            LOWER: B(T.raw()).filter(F.lowercase()).build()}


@lru_cache(maxsize=1)
def index_schema() -> tantivy.Schema:
    b = tantivy.SchemaBuilder()
    b.add_unsigned_field("seq", fast=True)
    b.add_integer_field("ts", fast=True)
    b.add_json_field("k", fast=True, tokenizer_name="raw", index_option="basic", expand_dots_enabled=True)
    b.add_json_field("attrs", tokenizer_name="raw", index_option="basic")
    b.add_text_field("message", tokenizer_name=WORDS, index_option="position")
    b.add_text_field("body", tokenizer_name=WORDS, index_option="position")
    b.add_text_field("stack", tokenizer_name=WORDS, index_option="position")
    b.add_text_field("keys", tokenizer_name=LOWER, index_option="basic")
    b.add_text_field("present", tokenizer_name="raw", index_option="basic")
    b.add_bytes_field("doc", stored=True)
    return b.build()


class Converter:
    """Turns a normalised event (app/events/normalize.py) into the JSON line tantivy indexes."""

    def __init__(self):
        schema = load_schema()
        self.key_paths = [f.path for f in schema.columns if f.index] + [("event", "id")]
        # one tree over the schema's paths: where each leaf goes (`k`, a full-text field, nowhere)
        tree: dict = {}
        for f in schema.fields.values():
            if f.name == "@timestamp":
                route = SKIP
            elif f.path in FULLTEXT:
                route = FULLTEXT[f.path]
            elif f.name in fast_fields():
                route = DATE if f.type == "date" else FAST
            else:
                continue
            node = tree
            for part in f.path[:-1]:
                node = node.setdefault(part, {})
            node[f.path[-1]] = route
        self.tree = tree

    def document(self, event: dict, seq: int, ts: int) -> str:
        """The JSON line tantivy indexes, for an event whose private keys (`_ts`, `_columns`,
        `_client_id`) have been taken out."""
        present: list[str] = []
        k: dict = {}
        text: dict = {}
        attrs = _walk(event, self.tree, "", present, k, text)
        keys = []
        for path in self.key_paths:
            node = event
            for part in path:
                node = node.get(part) if type(node) is dict else None
            if node is not None and node != "":
                keys.append(str(node).lower())
        line: dict = {"seq": seq, "ts": ts, "k": k, "keys": keys, "present": present,
                      "doc": base64.b64encode(orjson.dumps(event)).decode(), **text}
        if attrs:
            line["attrs"] = attrs
        return orjson.dumps(line).decode()


SKIP, FAST, DATE = "skip", "fast", "date"


@lru_cache(maxsize=1)
def fast_fields() -> frozenset[str]:
    """Schema fields kept in `k` (fast: facets, ranges, exact filters): the promoted columns and
    every number, date and boolean."""
    return frozenset(f.name for f in load_schema().fields.values()
                     if f.name != "@timestamp" and (f.column or f.type in ("long", "double", "date", "boolean")))


def _walk(node: dict, tree: dict, prefix: str, present: list[str], k: dict, text: dict) -> dict:
    """`node` without what goes elsewhere: fast fields into `k` (by dotted name), full text into
    `text`; every path met is added to `present`."""
    out = {}
    for key, value in node.items():
        path = prefix + key
        present.append(path)
        route = tree.get(key)
        if route is None or type(route) is dict:
            if type(value) is dict:
                inner = _walk(value, route or _EMPTY, path + ".", present, k, text)
                if inner:
                    out[key] = inner
            elif value is not None:
                out[key] = value
        elif value is None or value == "":
            continue
        elif route is FAST:
            if type(value) in (str, int, float, bool):
                k[path] = value
            else:
                out[key] = value
        elif route is DATE:
            ms = _epoch_ms(value)
            if ms is None:
                out[key] = value
            else:
                k[path] = ms
        elif route is not SKIP and type(value) is str:
            text[route] = value
    return out


_EMPTY: dict = {}


def _epoch_ms(value) -> int | None:
    if type(value) is not str:
        return None
    try:
        return int(datetime.fromisoformat(value).timestamp() * 1000)
    except ValueError:
        return None
