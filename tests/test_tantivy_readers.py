"""The embedded store's readers are reloaded only when a shard's meta.json changed, and its
directories listed again only when they changed: a search must still see every commit of every
process at once, including a partition another process has just created."""
from __future__ import annotations

import os

import pytest

from app.query import parse
from app.storage import SearchRequest, open_store
from tests.test_tantivy_store import DAY0, event

MONTH_LATER = DAY0 + 40 * 86_400_000


@pytest.fixture
def url(tmp_path):
    return f"tantivy://{tmp_path}/store?writer_heap_mb=16&day_partition_days=36500"


def total(store) -> int:
    return store.search(SearchRequest(query=parse(""), size=1)).total


def age(path, seconds: int = 60) -> None:
    """Make a file's or directory's mtime old: out of the racy window, so caches are trusted."""
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - seconds * 1_000_000_000))


def test_a_reader_sees_another_writers_commit_and_new_partition(url, tmp_path, reloads):
    reader, writer = open_store(url), open_store(url)
    try:
        assert reader.write([event(DAY0, "a-1")]).stored == 1
        for path in [tmp_path / "store" / "parts", *(tmp_path / "store" / "parts").rglob("*")]:
            age(path)
        before = reloads()
        assert total(reader) == 1
        assert total(reader) == 1
        assert reloads() - before == 1            # the first search loaded the reader; the second needed nothing
        assert writer.write([event(DAY0 + 1, "b-1")]).stored == 1   # another shard of the same month
        assert total(reader) == 2
        assert writer.write([event(DAY0 + 2, "b-2")]).stored == 1   # a second commit of that shard
        assert total(reader) == 3
        assert writer.write([event(MONTH_LATER, "b-3")]).stored == 1   # a partition the reader never saw
        assert total(reader) == 4
        assert reader.get("b-3")["event"]["id"] == "b-3"
    finally:
        reader.close()
        writer.close()


@pytest.fixture
def reloads(monkeypatch):
    """How many times readers were reloaded (tantivy's own reload, counted as it runs)."""
    import tantivy
    calls = []
    original = tantivy.Index.reload

    def reload(self):
        calls.append(1)
        return original(self)

    monkeypatch.setattr(tantivy.Index, "reload", reload)
    return lambda: len(calls)
