"""A prefix finds every value that starts with it, however many there are: `actor.id:p-00*`
over a hundred players counts a hundred, not the first fifty a segment's term list gives.

tantivy's phrase-prefix query stops at 50 terms a segment, so a prefix with more distinct values
than that was counted short (`http.request.id:req-*` gave 1,650 of 10 M events on the 10 M store:
33 segments × 50). The store must answer a prefix exactly, on every backend.
"""

from __future__ import annotations

import pytest

from app.config import Settings
from app.query.parser import parse
from app.services import build_normalizer
from app.storage import SearchRequest, open_store
from app.storage.base import EXACT
from tests.conftest import store_url_for

BACKENDS = ("tantivy", "opensearch")
BASE = 1_764_000_000_000
PLAYERS = 130  # p-0000 … p-0129: 100 start with p-00, 30 with p-01


def events() -> list[dict]:
    import tempfile

    normalizer = build_normalizer(Settings.from_env({"PLATLOGS_DATA_DIR": tempfile.mkdtemp()}))
    out = []
    for i in range(PLAYERS):
        raw = {
            "@timestamp": BASE + i * 1000,
            "message": f"Session refreshed for token{i:03d}",
            "event": {"id": f"evt-{i:04d}", "component": "api"},
            "actor": {"type": "player", "id": f"P-{i:04d}"},
            "http": {"request": {"id": f"req-{i:05d}", "method": "GET"}},
            "url": {"path": f"/api/v1/players/P-{i:04d}/limits"},
            "labels": {"batch": f"b{i:03d}"},
        }
        out.append(normalizer.normalize(raw, BASE + 3_600_000))
    return out


@pytest.fixture(scope="module", params=BACKENDS)
def store(request, tmp_path_factory):
    store = open_store(store_url_for(request.param, tmp_path_factory.mktemp("prefix"), request))
    assert store.write(events()).stored == PLAYERS
    if hasattr(store, "refresh"):
        store.refresh()
    yield store
    store.close()


@pytest.mark.parametrize(
    "query,count",
    [
        ("actor.id:p-00*", 100),  # an identifier: any case
        ("actor.id:P-01*", 30),
        ("actor.id:p-*", PLAYERS),
        ("http.request.id:req-*", PLAYERS),
        ("url.path:/api/v1/players/*", PLAYERS),  # a keyword, as written
        ("labels.batch:b0*", 100),
        ("p-00*", 100),  # a bare prefix finds identifiers whole
        ("req-001*", 30),
        ("token*", PLAYERS),  # a word of the message
        ("message:token1*", 30),
    ],
)
def test_a_prefix_counts_every_value_it_starts(store, query, count):
    result = store.search(SearchRequest(query=parse(query), size=200, total_bound=EXACT))
    assert result.total == count, (query, result.total)
    assert len(result.hits) == count
