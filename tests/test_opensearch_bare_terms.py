"""What the OpenSearch backend adds for 'a pasted value finds its events' (issue 13), beyond the
shared table in test_support_search.py: the mappings behind it (identifiers folded in a subfield,
the index-only catch-all excluded from _source), a masked reader's query never reaching inside
personal values, hostile values (60,000 characters, only punctuation), and generations made
before these mappings."""
from __future__ import annotations

import json

import pytest

from app.events.convert import format_ts
from app.events.schema import load_schema
from app.query import parse
from app.query.ast import Prefix, QueryError, Term, Text
from app.query.dsl import DSLCompiler, KEYS, PERSONAL_KEYS, PERSONAL_WORDS
from app.query.searchable import searchable
from app.storage import SearchRequest, open_store
from app.storage import opensearch_templates as templates

DAY0 = 1_794_960_000_000  # 2026-11-18T00:00:00Z
NOW = DAY0 + 86_400_000


def event(ts_ms: int, eid: str, **extra) -> dict:
    return {"@timestamp": format_ts(ts_ms), "event": {"id": eid, "component": "system", "type": "other"},
            "_ts": ts_ms, "_client_id": True, **extra}


def leaf(mapping: dict, name: str) -> dict:
    node = {"properties": mapping}
    for part in name.split("."):
        node = node["properties"][part]
    return node


# -- the mappings, from the schema ---------------------------------------------------------

def test_identifiers_have_a_folded_subfield_and_other_keywords_stay_exact():
    body = templates.common_template(templates.template_version())["template"]
    props = body["mappings"]["properties"]
    normalizer = body["settings"]["index"]["analysis"]["normalizer"]["platlogs_fold"]
    assert normalizer["filter"] == ["lowercase", "asciifolding"]
    for field in load_schema().fields.values():
        if field.type not in ("keyword", "ip", "tags"):
            continue
        mapping = leaf(props, field.name)
        assert mapping["type"] == "keyword", field.name   # as sent: facets show the original case
        subfields = mapping.get("fields", {})
        if field.identifier:
            assert subfields["fold"]["normalizer"] == "platlogs_fold", field.name
        else:
            assert "fold" not in subfields, field.name


def test_the_catch_all_is_index_only_and_stack_traces_have_words():
    mappings = templates.common_template(templates.template_version())["template"]["mappings"]
    search = mappings["properties"]["platlogs_search"]["properties"]
    assert {k: v.get("normalizer") for k, v in search.items() if v["type"] == "keyword"} == {
        "keys": "platlogs_fold", "personal_keys": "platlogs_fold"}
    assert {k: v["analyzer"] for k, v in search.items() if v["type"] == "text"} == {
        "words": "platlogs_words", "personal_words": "platlogs_words"}
    assert mappings["_source"]["excludes"] == ["platlogs_search"]
    stack = leaf(mappings["properties"], "error.stack_trace")
    assert stack["type"] == "wildcard" and stack["fields"]["words"]["analyzer"] == "platlogs_words"


def test_the_template_version_moved_past_the_search_keys_layout():
    committed = json.loads((templates.template_dir() / "platlogs-common.json").read_text())
    assert committed["version"] >= 3 and "search_keys" not in json.dumps(committed)


# -- the compiled queries --------------------------------------------------------------------

def clauses(query, kind: str | None = None) -> list[tuple[str, str]]:
    """(query type, field) of every leaf clause of a compiled query."""
    out = []
    if isinstance(query, list):
        for q in query:
            out += clauses(q, kind)
    elif isinstance(query, dict):
        for key, value in query.items():
            if key in ("term", "terms", "prefix", "match", "match_phrase", "match_phrase_prefix",
                       "match_bool_prefix", "wildcard"):
                out += [(key, field) for field in value if field != "boost"]
            elif isinstance(value, (dict, list)):
                out += clauses(value, kind)
    return out


@pytest.mark.parametrize("node", [Text("Niamh"), Text("Niamh", prefix=True), Text("Niamh Virtanen", phrase=True),
                                  Text("Niamh Vir", phrase=True, prefix=True), Text("nia", prefix=True)])
def test_a_masked_reader_reaches_personal_values_by_their_whole_value_only(node):
    personal = {PERSONAL_KEYS} | {f.name + ".fold" for f in load_schema().fields.values() if f.personal}
    masked = clauses(DSLCompiler(NOW, inside_personal=False).compile(node))
    assert not any(field == PERSONAL_WORDS for _, field in masked)
    assert all(kind in ("term", "terms") for kind, field in masked if field in personal)
    inside = clauses(DSLCompiler(NOW).compile(node))
    assert (PERSONAL_WORDS in {f for _, f in inside}) and (PERSONAL_KEYS in {f for _, f in inside})
    if not node.prefix:   # the whole value finds it whoever reads
        assert {("terms", PERSONAL_KEYS), ("terms", KEYS), ("terms", "actor.email.fold")} <= set(masked)
    else:
        assert ("prefix", "actor.id.fold") in masked and ("prefix", "actor.email.fold") in inside


def test_a_bare_value_without_words_is_looked_up_whole():
    query = DSLCompiler(NOW).compile(Text("-- !! --"))
    assert {kind for kind, _ in clauses(query)} == {"terms", "term"}


def test_identifier_fields_are_queried_folded_and_others_as_written():
    compiler = DSLCompiler(NOW)
    assert ("terms", "payment.transaction_id.fold") in clauses(compiler.compile(Term("payment.transaction_id", "TX-1")))
    assert ("prefix", "actor.email.fold") in clauses(compiler.compile(Prefix("actor.email", "NIAMH")))
    assert clauses(compiler.compile(Term("payment.status", "Declined"))) == [("term", "payment.status")]
    assert clauses(compiler.compile(Prefix("service.name", "Wal"))) == [("prefix", "service.name")]


def test_a_long_prefix_is_refused_at_its_position_and_a_long_word_is_not():
    with pytest.raises(QueryError):
        DSLCompiler(NOW).compile(Text("x" * 5000, prefix=True, pos=3))
    DSLCompiler(NOW).compile(Text("x" * 60_000))


# -- on a real node -------------------------------------------------------------------------

@pytest.fixture
def os_store(request, tmp_path):
    from conftest import store_url_for
    store = open_store(store_url_for("opensearch", tmp_path, request))
    yield store
    store.close()


def ids(store, node, **options) -> set[str]:
    result = store.search(SearchRequest(query=node, size=50, now_ms=NOW, **options))
    return {hit["event"]["id"] for hit in result.hits}


def test_a_generation_maps_identifiers_folded_and_never_returns_the_catch_all(os_store):
    assert os_store.write([event(DAY0, "01JD5ZQ8ABCDEF", actor={"id": "P-77", "email": "Ana@Example.com"},
                                 labels={"why": "chargeback dispute"})]).stored == 1
    index = next(r["index"] for r in os_store._index_rows() if "-system-g" in r["index"])
    props = next(iter(os_store.client.indices.get_mapping(index=index).values()))["mappings"]["properties"]
    assert leaf(props, "actor.email")["fields"]["fold"]["normalizer"] == "platlogs_fold"
    assert "platlogs_search" in props
    stored = os_store.get("01JD5ZQ8ABCDEF")
    assert "platlogs_search" not in stored and "search_keys" not in stored
    hit = os_store.search(SearchRequest(query=parse("chargeback"), now_ms=NOW)).hits[0]
    assert "platlogs_search" not in hit
    # event.id in any case, bare or as a field; identifiers in any case as fields
    assert ids(os_store, Text("01jd5zq8abcdef")) == {"01JD5ZQ8ABCDEF"}
    assert ids(os_store, Text("01jd5zq8", prefix=True)) == {"01JD5ZQ8ABCDEF"}
    assert ids(os_store, parse("event.id:01jd5zq8abcdef")) == {"01JD5ZQ8ABCDEF"}
    assert ids(os_store, parse("actor.email:ANA@EXAMPLE.COM")) == {"01JD5ZQ8ABCDEF"}
    assert ids(os_store, parse("actor.id:p-7*")) == {"01JD5ZQ8ABCDEF"}


def test_hostile_values_are_stored_and_found(os_store):
    word = "Q" * 60_000
    result = os_store.write([
        event(DAY0, "long-message", message=f"before {word} after"),
        # (a label value this long is refused by `flat_object`, whatever the catch-all does)
        event(DAY0 + 1, "long-value", url={"full": "z" * 60_000}, labels={"note": "the long one"}),
        event(DAY0 + 2, "long-id", actor={"id": "i" * 60_000, "type": "player"}),
        event(DAY0 + 3, "punctuation", labels={"mark": "--- !!! ---"}, user_agent={"original": "¯\\_(ツ)_/¯"}),
        event(DAY0 + 4, "many", labels={f"k{i}": f"value number {i}" for i in range(3000)}),
    ])
    assert result.stored == 5, result
    assert ids(os_store, Text(word)) == {"long-message"}          # the word, however long
    assert ids(os_store, Text("z" * 60_000)) == {"long-value"}    # a long value by its (only) word
    assert ids(os_store, Text("the long one", phrase=True)) == {"long-value"}
    assert ids(os_store, Text("--- !!! ---")) == {"punctuation"}  # no word: the whole value
    assert ids(os_store, Text("¯\\_(ツ)_/¯")) == {"punctuation"}
    many = event(DAY0 + 4, "many", labels={f"k{i}": f"value number {i}" for i in range(3000)})
    taken = searchable(many).words    # at most MAX_VALUES of an event's values are taken
    assert 0 < len(taken) < 3000 and ids(os_store, Text(taken[-1], phrase=True)) == {"many"}
    assert ids(os_store, Text("i" * 60_000)) == set()             # an id too long to index: not an error


def test_a_generation_made_before_these_mappings_still_answers(os_store):
    """An index of an older template (no catch-all, no .fold) behind the read alias: its events
    keep the exact-case field lookups, and the catch-all a newer writer sent never comes back."""
    old = f"{os_store.prefix}-old"
    os_store.client.indices.create(index=old, body={
        "aliases": {os_store.alias: {}},
        "mappings": {"dynamic": False, "properties": {
            "@timestamp": {"type": "date"}, "event": {"properties": {"id": {"type": "keyword"}}},
            "actor": {"properties": {"id": {"type": "keyword"}}}, "message": {"type": "text"}}}})
    doc = {**event(DAY0, "old-1", actor={"id": "P-9"}, message="legacy"),
           "platlogs_search": {"keys": ["P-9"]}}
    doc.pop("_ts"), doc.pop("_client_id")
    os_store.client.index(index=old, id="old-1", body=doc, params={"refresh": "true"})
    assert ids(os_store, parse("actor.id:P-9")) == {"old-1"}
    assert ids(os_store, parse("actor.id:P-*")) == {"old-1"}
    hit = os_store.search(SearchRequest(query=parse("legacy"), now_ms=NOW)).hits[0]
    assert hit["event"]["id"] == "old-1" and "platlogs_search" not in hit
    assert "platlogs_search" not in os_store.get("old-1")
