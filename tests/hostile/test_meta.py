"""The corpus's own instruments can fail: each check is shown a planted defect and must see it.
(A disk scanner that never finds anything, or a runner that never complains, would pass every case.)"""
from __future__ import annotations

import sqlite3
import struct

import pytest

from conftest import BACKENDS

from . import scan
from .corpus import Case, CaseError, load_cases
from .test_corpus import INGEST_PATHS, READ_ROUTES, IngestPath, check_ingest, check_read, formula_cells, send_bulk

PLANTED = "4556737586899855"   # a valid card number used by no case


# -- the disk scanner ----------------------------------------------------------------------------

def test_scanner_finds_text_binary_integers_fts_terms_and_the_wal(tmp_path):
    db = tmp_path / "planted.db"
    keep = sqlite3.connect(db)
    keep.execute("PRAGMA journal_mode=WAL")
    keep.execute("PRAGMA wal_autocheckpoint=0")          # what follows stays in the -wal file
    keep.execute("CREATE TABLE t (n INTEGER, r REAL, s TEXT)")
    keep.execute("CREATE VIRTUAL TABLE f USING fts5(body)")
    keep.execute("INSERT INTO t VALUES (?, ?, ?)", (int(PLANTED), float("5105105105105100"), "hx-planted-text"))
    # neighbouring terms: FTS5 prefix-compresses them, so the bytes of one are not contiguous
    keep.executemany("INSERT INTO f VALUES (?)", [("hx planted 40128888888818811",), ("hx planted 40128888888818812",)])
    keep.commit()
    assert (tmp_path / "planted.db-wal").stat().st_size > 0
    found = scan.file_hits(tmp_path, [PLANTED, "5105105105105100", "hx-planted-text", "40128888888818812",
                                      "never-there-hx"])
    assert "planted.db-wal" in found[PLANTED]                    # an 8-byte big-endian integer in the WAL
    assert any("(rows/tokens)" in w for w in found["5105105105105100"])   # a REAL
    assert "hx-planted-text" in found
    assert any("(rows/tokens)" in w for w in found["40128888888818812"])  # an FTS term, from the vocabulary
    assert "never-there-hx" not in found
    keep.close()


def test_scanner_encodings_cover_json_escapes():
    forms = scan._encodings("caf\u00e9 <x>")
    assert b'caf\\u00e9 <x>' in forms and "caf\u00e9 <x>".encode() in forms
    assert struct.pack(">q", int(PLANTED)) in scan._encodings(PLANTED)


def test_answer_scanner_sees_through_json_escapes_and_html_entities():
    assert scan.answer_hits(b'{"a": "\\u0068x-s3cr3t"}', "application/json", ["hx-s3cr3t"]) == ["hx-s3cr3t"]
    assert scan.answer_hits(b"<p>&#104;x-s3cr3t</p>", "text/html", ["hx-s3cr3t"]) == ["hx-s3cr3t"]
    assert scan.answer_hits(b'{"n": 4556737586899855.0}\n', "application/x-ndjson", [PLANTED]) == [PLANTED]
    assert scan.answer_hits(b"<p>nothing</p>", "text/html", ["hx-s3cr3t"]) == []


def test_csv_checker_flags_hidden_formulas_and_accepts_quoted_ones():
    body = "a,b\r\n\"\u00a0=1+1\",'=1+1\r\n\uff20SUM(A1),plain\r\n".encode()
    assert len(formula_cells(body)) == 2


# -- the runner fails on a planted leak ----------------------------------------------------------

def send_unredacted(world, items, neighbours, gzip_body=False):
    """A broken way in: stores the items as they are, past redaction, then reports as bulk does."""
    import orjson
    import time
    events = []
    for item in items:
        sent = orjson.loads(item)
        event = world.services.ingestor.normalizer.normalize(dict(sent), time.time_ns() // 1_000_000)
        event["card"] = sent["card"]          # put back what redaction took out
        events.append(event)
    world.services.store.write(events)
    return send_bulk(world, [], neighbours)  # the neighbours, the honest way


@pytest.mark.parametrize("backend", BACKENDS)
def test_runner_reports_a_path_that_stores_a_secret(backend, worlds):
    world = worlds(backend, "meta-leaky")
    case = Case(id="meta-planted", file="(meta)", kind="ingest", title="planted",
                items=[{"message": "planted", "card": PLANTED, "event": {"id": "hx-meta-planted"}}],
                never_on_disk=[PLANTED], never_in_answers=[PLANTED])
    problems = check_ingest(world, case, IngestPath("leaky", send_unredacted), "meta")
    assert any(PLANTED in p and "stored in" in p for p in problems), problems
    if backend == "opensearch":   # found in the documents' _source, not only in local files
        assert any("(_source)" in p for p in problems), problems
    assert any("shown in an answer" in p for p in problems), problems   # read back through the API


@pytest.mark.parametrize("backend", BACKENDS)
def test_runner_reports_refused_neighbours_and_wrong_outcomes(backend, worlds):
    world = worlds(backend, "meta-outcomes")
    case = Case(id="meta-outcome", file="(meta)", kind="ingest", title="planted", items=[{"message": "fine"}],
                item="refused")
    bulk = next(p for p in INGEST_PATHS if p.name == "bulk")
    assert any("must be refused" in p for p in check_ingest(world, case, bulk, "meta"))
    bad = Case(id="meta-bad", file="(meta)", kind="ingest", title="planted", items=[b"{broken"], item="stored")
    assert any("refused" in p for p in check_ingest(world, bad, bulk, "meta"))


@pytest.mark.parametrize("backend", BACKENDS)
def test_read_checks_see_a_shown_string_and_a_wrong_status(backend, worlds):
    world = worlds(backend, "meta-read")
    event = {"message": "hx meta visible", "event": {"id": "hx-meta-visible"}}
    assert world.client.post("/api/v1/events", json=[event], headers=world.ingest_headers).json["accepted"] == 1
    world.refresh()
    case = Case(id="meta-read", file="(meta)", kind="read", title="planted", seed=[event],
                params={"q": "hx-meta-visible"}, status=("4xx",), never_in_answers=["hx meta visible"],
                not_raw_in_html=["hx meta visible"])
    search = next(r for r in READ_ROUTES if r.name == "api-search")
    problems = check_read(world, case, search, "meta")
    assert any("shown" in p for p in problems) and any("expected 4xx" in p for p in problems), problems
    page = next(r for r in READ_ROUTES if r.name == "page-event")
    assert any("unescaped in the HTML" in p for p in check_read(world, case, page, "meta"))


# -- the case validator names file, case and field ------------------------------------------------

@pytest.mark.parametrize("text,field", [
    ("kind: ingest\ntitle: t\nsend: {event: {message: x}}\nexpect: {nevr: [x]}\n", "expect.nevr"),
    ("kind: ingest\ntitle: t\nsend: {event: [1]}\n", "send.event"),
    ("kind: ingest\nsend: {event: {message: x}}\n", "title"),
    ("kind: read\ntitle: t\nparams: {q: 5}\n", "params.q"),
    ("kind: read\ntitle: t\nparams: {qq: x}\n", "params.qq"),
    ("kind: read\ntitle: t\nseed: [{message: x}]\n", "seed[0].event.id"),
    ("kind: read\ntitle: t\nparams: {q: x}\nexpect: {status: 500}\n", "expect.status"),
    ("kind: read\ntitle: t\nas: hacker\nparams: {q: x}\n", "as"),
    ("kind: write\ntitle: t\n", "kind"),
    ("kind: ingest\ntitle: t\nsend: {raw: \"a\\nb\"}\n", "send.raw"),
    ("kind: ingest\ntitle: t\nsend: {event: {message: x}}\nexpect: {item: refused, stored: {message: x}}\n",
     "expect.stored"),
    ("kind: [unclosed\n", "(file)"),
])
def test_validator_names_the_file_the_case_and_the_field(tmp_path, text, field):
    (tmp_path / "broken-case.yaml").write_text(text)
    with pytest.raises(CaseError) as caught:
        load_cases(tmp_path)
    assert caught.value.file == "broken-case.yaml" and caught.value.case == "broken-case"
    assert caught.value.field == field, str(caught.value)
    assert "broken-case.yaml" in str(caught.value) and field in str(caught.value)


def test_validator_refuses_a_never_string_two_cases_share(tmp_path):
    for name in ("one", "two"):
        (tmp_path / f"{name}.yaml").write_text(
            "kind: ingest\ntitle: t\nsend: {event: {message: x}}\nexpect: {never: [hx-shared-s3cr3t]}\n")
    with pytest.raises(CaseError, match="also a never-on-disk string of one.yaml") as caught:
        load_cases(tmp_path)
    assert caught.value.file == "two.yaml" and caught.value.field == "expect.never_on_disk"


def test_generators_expand_before_validation(tmp_path):
    (tmp_path / "gen.yaml").write_text('kind: ingest\ntitle: t\nsend: {raw: {"$concat": ["{\\"m\\": \\"", '
                                       '{"$repeat": "W", "times": 5}, "\\"}"]}}\n')
    [case] = load_cases(tmp_path)
    assert case.items == [b'{"m": "WWWWW"}']


def test_a_body_not_answered_in_time_fails_instead_of_stalling(worlds):
    """The deadline guard kills the child answering a generated body: a hang becomes a failure."""
    import time
    from .test_corpus import gzip_newlines, post_with_deadline
    world = worlds("sqlite", "meta-outcomes")
    started = time.monotonic()
    assert post_with_deadline(world, "/api/v1/events/bulk", gzip_newlines(1 << 20), 0.01) is None
    assert time.monotonic() - started < 5
    answered = post_with_deadline(world, "/api/v1/events/bulk", gzip_newlines(1 << 10), 60)
    assert answered is not None and answered[0] < 500, answered
