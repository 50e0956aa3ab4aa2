"""How an event becomes a tantivy document: the index's fields, its analyzers, and the one
conversion every write goes through.

Thirteen fields, whatever the event holds (a tantivy text field costs a byte per document for
its field norms, so the schema's 67 fields live in one JSON field rather than 67 fields):

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
  keys, pkeys   every other value whole, folded (lower case, no accents): what a pasted value
           is looked up as; personal values in `pkeys` (app/query/searchable.py) — identifiers
           not again: a bare term is looked up in `fi` under each identifier's path too
  all, pall     the words of values of several words (not identifiers), with positions;
           personal ones in `pall`
  fi       JSON: identifier values (schema `identifier: true`) by path, folded: `field:VALUE`
           on an id, e-mail, IP or reference in any case
  doc      the event, stored: compressed with a dictionary (app/storage/tantivy_docs.py)

Measured on 100,000 demo events: one fast JSON field costs the same bytes as a fast field for
the promoted columns plus a plain one for the rest (333 against 325 bytes an event) and
converts in 0.6 of the time.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from functools import lru_cache

import orjson
import tantivy

from ..events.schema import get_path, load_schema
from ..query.searchable import searchable
from . import native_docs

SEQ_BITS = 22  # low bits of seq under the time: shard and counter
COUNTER_BITS = 16  # events per millisecond per shard before spilling into the next ms
MAX_SHARDS = 1 << (SEQ_BITS - COUNTER_BITS)
LAYOUT = "tantivy-2"  # written to the store's layout file; bumped when documents change shape
READ_ONLY_LAYOUTS = ("tantivy-1",)  # earlier layouts: read (to migrate them), never written

FULLTEXT = {("message",): "message", ("error", "message"): "body", ("error", "stack_trace"): "stack"}
WORDS, LOWER = "words", "lower"


def analyzers() -> dict[str, tantivy.TextAnalyzer]:
    """Runs of letters and digits, lower case, accents folded — as FTS5's unicode61 with
    remove_diacritics and the OpenSearch analyzer split them; and whole values folded alike."""
    B, T, F = tantivy.TextAnalyzerBuilder, tantivy.Tokenizer, tantivy.Filter
    return {
        WORDS: B(T.simple()).filter(F.remove_long(255)).filter(F.lowercase()).filter(F.ascii_fold()).build(),
        LOWER: B(T.raw()).filter(F.lowercase()).filter(F.ascii_fold()).build(),
    }


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
    # (fields of layout tantivy-2; those above keep their numbers, so tantivy-1 stays readable)
    b.add_text_field("pkeys", tokenizer_name=LOWER, index_option="basic")
    b.add_text_field("all", tokenizer_name=WORDS, index_option="position")
    b.add_text_field("pall", tokenizer_name=WORDS, index_option="position")
    b.add_json_field("fi", tokenizer_name=LOWER, index_option="basic")
    return b.build()


class Converter:
    """Turns a normalised event (app/events/normalize.py) into the JSON line tantivy indexes."""

    def __init__(self, encode: Callable[[dict], bytes], encode_json: Callable[[bytes], bytes] | None = None):
        """`encode`: the stored form of an event (DocumentCodec.encode); `encode_json`, the same
        from the event's orjson bytes (DocumentCodec.encode_json), which the native path has."""
        self.encode = encode
        self.encode_json = encode_json
        self.identifiers = [f.path for f in load_schema().fields.values() if f.identifier]
        self.native = native_docs.builder()  # None: Python only (app/storage/native_docs.py)

    def document(self, event: dict, seq: int, ts: int) -> str:
        """The JSON line tantivy indexes, for an event whose private keys (`_ts`, `_columns`,
        `_client_id`) have been taken out: written in Rust when platlogs_native is installed
        (byte for byte what `python_document` writes, or it declines and Python writes it)."""
        native = self.native
        if native is None:
            return self.python_document(event, seq, ts)
        try:
            raw = orjson.dumps(event)
        except orjson.JSONEncodeError:
            return self.python_document(event, seq, ts)  # raises as it always did
        stored = self.encode(event) if self.encode_json is None else self.encode_json(raw)
        try:
            line = native.document(raw, stored, seq, ts)
        except (OverflowError, TypeError):  # a seq or ts outside 64 bits
            line = None
        return self.python_document(event, seq, ts, stored) if line is None else line

    def python_document(self, event: dict, seq: int, ts: int, stored: bytes | None = None) -> str:
        """The reference: `document` in Python (`stored`: the event's stored form, when known)."""
        if stored is None:
            stored = self.encode(event)
        line: dict = {"seq": seq, "ts": ts, "doc": base64.b64encode(stored).decode()}
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
        found = searchable(event, identifiers=False)  # those are in `fi`, by path
        line["keys"], line["pkeys"], line["all"], line["pall"] = (
            found.keys,
            found.personal_keys,
            found.words,
            found.personal_words,
        )
        identifiers: dict = {}
        for path in self.identifiers:
            value = get_path(event, path)
            if type(value) is str and value:
                node = identifiers
                for part in path[:-1]:
                    node = node.setdefault(part, {})
                node[path[-1]] = value
        line["fi"] = identifiers
        return orjson.dumps(line).decode()
