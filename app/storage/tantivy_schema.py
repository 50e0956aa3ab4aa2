"""How an event becomes a tantivy document: the index's fields, its analyzers, and the one
conversion every write goes through.

Nine fields, whatever the event holds (a tantivy text field costs a byte per document for its
field norms, so the schema's 67 fields live in one JSON field rather than 67 fields):

  seq      u64, fast: (event time ms << SEQ_BITS) | (shard << COUNTER_BITS) | counter — unique
           and time-ordered: sort key, cursor and time window (a fast-field range)
  ts       i64, fast: event time in ms (histograms)
  f        JSON, fast, raw terms: every value but the full text and @timestamp, by its path
           (`f.log.level`, `f.payment.amount`, `f.labels.env`, `f.changes.field`): exact
           filters, ranges, `field:*` and facets on any field, as OpenSearch's keyword fields
  message, body, stack   the full-text fields (`message`, `error.message`,
           `error.stack_trace`): words folded to lower case without accents, with positions
  id       event.id in lower case (lookups, dedupe, `event.id:`; kept out of `f`: a unique value
           costs a term and a fast-column entry per event)
  keys     the other exact ids in lower case (player, target, correlation, session,
           transaction, round): a bare word finds an id whatever its case
  doc      the event, stored: compressed with a dictionary (app/storage/tantivy_docs.py)

Measured on 100,000 demo events: one fast JSON field costs the same bytes as a fast field for
the promoted columns plus a plain one for the rest (333 against 325 bytes an event) and
converts in 0.6 of the time.
"""
from __future__ import annotations

import base64
from functools import lru_cache
from typing import Callable

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
    b.add_json_field("f", fast=True, tokenizer_name="raw", index_option="basic")
    for name in FULLTEXT.values():
        b.add_text_field(name, tokenizer_name=WORDS, index_option="position")
    b.add_text_field("id", tokenizer_name=LOWER, index_option="basic")
    b.add_text_field("keys", tokenizer_name=LOWER, index_option="basic")
    b.add_bytes_field("doc", stored=True)
    return b.build()


class Converter:
    """Turns a normalised event (app/events/normalize.py) into the JSON line tantivy indexes."""

    def __init__(self, encode: Callable[[dict], bytes]):
        """`encode`: the stored form of an event (DocumentCodec.encode)."""
        self.encode = encode
        self.key_paths = [f.path for f in load_schema().columns if f.index]
        assert all(len(path) == 2 for path in self.key_paths), "ids are expected two levels deep"

    def document(self, event: dict, seq: int, ts: int) -> str:
        """The JSON line tantivy indexes, for an event whose private keys (`_ts`, `_columns`,
        `_client_id`) have been taken out."""
        line: dict = {"seq": seq, "ts": ts, "doc": base64.b64encode(self.encode(event)).decode()}
        values = {key: value for key, value in event.items() if key != "message" and key != "@timestamp"}
        meta = values.get("event")
        if type(meta) is dict and "id" in meta:
            line["id"] = str(meta["id"])
            values["event"] = {key: value for key, value in meta.items() if key != "id"}
        message = event.get("message")
        if type(message) is str:
            line["message"] = message
        error = values.get("error")
        if type(error) is dict and ("message" in error or "stack_trace" in error):
            error = values["error"] = dict(error)
            text = error.pop("message", None)
            if type(text) is str:
                line["body"] = text
            text = error.pop("stack_trace", None)
            if type(text) is str:
                line["stack"] = text
        line["f"] = values
        keys = []
        for first, second in self.key_paths:
            node = event.get(first)
            if type(node) is dict:
                node = node.get(second)
                if node is not None and node != "":
                    keys.append(str(node).lower())
        line["keys"] = keys
        return orjson.dumps(line).decode()
