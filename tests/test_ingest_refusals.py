"""Why ingest refused an item (issue 16): the kind of a refusal is carried from where it is raised —
the type of the EventError or the kind it was raised with, a store's answer (failed or refused), a
_bulk action line — in one vocabulary (app/events/refusals.py), and counted by that kind. Nothing
reads the words of a reason back to classify it: reasons are for people and may be reworded."""

from __future__ import annotations

import gzip
import io
import sqlite3
import time
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import orjson
import pytest

from app.config import Settings
from app.events import refusals
from app.events.convert import EventError
from app.ingest import stats
from app.ingest.ndjson import BodyLimitError, decoded_chunks, iter_lines, oversized
from app.ingest.pipeline import Ingestor, IngestReport
from app.services import build_normalizer
from app.storage.sqlite import SQLiteStore
from app.syslog.writer import BatchWriter


def refused_kinds(*items, max_errors: int = 1000) -> dict[str, int]:
    """The kinds of refusals found while reading: neither the normaliser nor the store is asked."""
    report = IngestReport(max_errors=max_errors)
    Ingestor(SimpleNamespace(normalize=None), None).ingest(enumerate(items), report=report)  # type: ignore[arg-type]
    return report.refused


def test_one_vocabulary_with_a_description_each():
    assert all(isinstance(text, str) and text for text in refusals.REASONS.values())
    kinds = {value for name, value in vars(refusals).items() if name.isupper() and isinstance(value, str)}
    assert kinds == set(refusals.REASONS)


def test_the_kind_is_the_one_raised_not_read_from_the_words_of_the_reason():
    assert refused_kinds(EventError("malformed JSON, says the text; raised as a schema error", "message")) == {
        "schema": 1
    }
    assert refused_kinds(EventError("expected a string", kind=refusals.TIME)) == {"time": 1}
    assert refused_kinds(EventError("storage unavailable, but not from a store", kind=refusals.BAD_JSON)) == {
        "bad_json": 1
    }
    assert refused_kinds(oversized(70_000, 65_536)) == {"too_large": 1}
    # a body limit is a size limit, whatever its words ("gzip body decompresses to over …")
    assert refused_kinds(BodyLimitError("gzip body decompresses to over 10 bytes")) == {"too_large": 1}
    assert not hasattr(stats, "reason_of")


def test_every_refusal_counts_by_its_kind_past_the_reports_list_of_errors():
    report_kinds = refused_kinds(
        oversized(70_000, 65_536),
        EventError("expected a string", "message"),
        EventError("malformed JSON", kind=refusals.BAD_JSON),
        EventError("malformed JSON", kind=refusals.BAD_JSON),
        max_errors=1,
    )
    assert report_kinds == {"too_large": 1, "schema": 1, "bad_json": 2}


def test_a_body_that_is_not_gzip_is_a_bad_request():
    lines = list(iter_lines(decoded_chunks(io.BytesIO(b"not gzip at all"), gzip=True), 1000))
    assert refused_kinds(*(line for _, line in lines)) == {"bad_request": 1}
    whole = gzip.compress(b'{"message": "a"}\n' * 50)
    lines = list(iter_lines(decoded_chunks(io.BytesIO(whole[:-20]), gzip=True), 1000))  # cut short
    assert isinstance(lines[-1][1], EventError) and lines[-1][1].kind == refusals.BAD_REQUEST


@pytest.fixture
def store(tmp_path):
    store = SQLiteStore(tmp_path / "store")
    yield store
    store.close()


@pytest.fixture
def normalizer(tmp_path):
    return build_normalizer(Settings.from_env({"PLATLOGS_DATA_DIR": str(tmp_path / "data")}))


DEEP = b'{"a": ' * 40 + b"1" + b"}" * 40
WIDE = orjson.dumps({f"f{i}": i for i in range(5000)})


@pytest.mark.parametrize(
    "line, kind",
    [
        (b"{not json", "bad_json"),
        (b'{"message": "\xff\xfe"}', "bad_json"),
        (b"[1, 2]", "bad_json"),
        (b'{"message": "a", "message": "b"}', "repeated_key"),
        (DEEP, "limits"),
        (WIDE, "limits"),
        (b'{"message": "m", "@timestamp": "2099-01-01T00:00:00Z"}', "time"),
        (b'{"message": "m", "@timestamp": "2001-01-01T00:00:00Z"}', "time"),  # over max_event_age_days
        (b'{"message": "m", "event": {"component": "nope"}}', "schema"),
        (b'{"message": "m", "service": {"name": {"a": 1}}}', "schema"),
        (b'{"message": "m", "event": {"id": "has spaces in it"}}', "schema"),
        (b'{"message": "' + b"x" * 70_000 + b'"}', "too_large"),
    ],
)
def test_what_the_pipeline_refuses_is_counted_by_the_kind_it_was_raised_with(normalizer, store, line, kind):
    ingestor = Ingestor(normalizer, store, max_event_bytes=65_536, max_event_age_days=30)
    report = ingestor.ingest(enumerate([line, b'{"message": "fine"}']), check_size=True)
    assert report.accepted == 1 and report.refused == {kind: 1}, report.errors


def test_a_batch_the_store_fails_is_storage_whatever_the_stores_words(normalizer, store):
    ingestor = Ingestor(normalizer, store)
    blocker = sqlite3.connect(store.path, isolation_level=None)
    try:
        store._writer.execute("PRAGMA busy_timeout = 50")
        blocker.execute("BEGIN IMMEDIATE")  # another writer holds the database: the store fails the batch
        report = ingestor.ingest(enumerate([b'{"message": "m"}']))
    finally:
        blocker.close()
    assert report.refused == {"storage": 1} and report.status == 503, report.errors
    assert report.failed_numbers == {0}


def test_the_syslog_writer_retries_what_the_store_failed_whatever_its_words(normalizer, store):
    """A batch the store fails (its reason in the store's words: "storage error, …") is tried
    again, not counted as refused; after the lock is gone it is stored."""
    blocker = sqlite3.connect(store.path, isolation_level=None)
    store._writer.execute("PRAGMA busy_timeout = 50")
    blocker.execute("BEGIN IMMEDIATE")
    waits = []

    def sleep(seconds):  # the writer's back-off: the other writer lets go meanwhile
        waits.append(seconds)
        if blocker.in_transaction:
            blocker.execute("ROLLBACK")

    writer = BatchWriter(Ingestor(normalizer, store), ZoneInfo("UTC"), sleep=sleep)
    now = int(time.time() * 1000)
    try:
        result = writer.write([(b"<14>1 - host app - - - hello", now, "127.0.0.1", False)] * 3)
    finally:
        blocker.close()
    assert result["refused"] == {} and result["stored"] == 3 and result["dropped"] == 0, result
    assert waits == [0.5]
