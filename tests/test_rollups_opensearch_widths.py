"""OpenSearch rollups at three widths (app/storage/opensearch_rollups.py): hour and day documents
beside the minute ones, read for steps they divide — so 30 days are not 43,200 minute buckets per
key — and an index made before the widths keeps giving exact numbers from its minute documents."""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone

import orjson
import pytest

from app.config import Settings
from app.rollups.model import COUNT_DIMENSIONS, MINUTE_MS, reduce
from app.services import build_normalizer
from app.storage import open_store
from app.storage.opensearch_rollups import MAPPING, documents

from test_rollups import DAY_MS, assert_equal_to_brute_force, brute_counts, demo, odd_events, write

WHOLE_DAYS = (1_794_960_000_000 - 5 * DAY_MS, 1_794_960_000_000 + 2 * DAY_MS)


@pytest.fixture(scope="module")
def normalizer(tmp_path_factory):
    return build_normalizer(Settings.from_env({"PLATLOGS_DATA_DIR": str(tmp_path_factory.mktemp("n"))}))


@pytest.fixture
def store_url(request, tmp_path):
    from conftest import store_url_for
    return store_url_for("opensearch", tmp_path, request)


def events_of(normalizer) -> list[dict]:
    return demo(normalizer, 800, datetime(2026, 11, 19, tzinfo=timezone.utc), seed=21, days=3) + odd_events(normalizer)


def counts(store, step: int) -> Counter:
    return Counter({(r.start_ms, r.values): r.count for r in store.rollups.counts(*WHOLE_DAYS, step, COUNT_DIMENSIONS)})


def test_day_steps_read_the_day_documents(store_url, normalizer):
    store = open_store(store_url)
    try:
        stored = write(store, events_of(normalizer))
        rollups = store.rollups
        rollups._refresh()
        widths = Counter(doc["_source"].get("w", 1) for doc in store.client.search(
            index=rollups.index, body={"size": 10_000, "query": {"match_all": {}}})["hits"]["hits"])
        assert widths[60] and widths[1440] and widths[1] > widths[60] > widths[1440]
        inside = [e for e in stored if WHOLE_DAYS[0] <= e["_ts"] < WHOLE_DAYS[1]]
        assert counts(store, DAY_MS) == brute_counts(inside, DAY_MS, COUNT_DIMENSIONS)
        # without their minute documents, whole days still answer: from the day documents
        store.client.delete_by_query(index=rollups.index, body={"query": {"bool": {"must_not": [
            {"exists": {"field": "w"}}]}}}, params={"refresh": "true"})
        assert counts(store, DAY_MS) == brute_counts(inside, DAY_MS, COUNT_DIMENSIONS)
        assert counts(store, 3_600_000) == brute_counts(inside, 3_600_000, COUNT_DIMENSIONS)
        assert not counts(store, MINUTE_MS)
    finally:
        store.close()


def test_an_index_made_before_the_widths_answers_from_its_minutes(store_url, normalizer):
    store = open_store(store_url)
    try:
        events = events_of(normalizer)
        index = f"{store.prefix}-rollups"
        old_mapping = {**MAPPING, "properties": {k: v for k, v in MAPPING["properties"].items() if k != "w"}}
        store.client.indices.create(index=index, body={"settings": {"number_of_shards": 1, "number_of_replicas": 0},
                                                       "mappings": old_mapping})
        lines = []
        for doc_id, keys, numbers in documents(reduce(events[:500]), widths=(MINUTE_MS,)):
            lines += [orjson.dumps({"index": {"_index": index, "_id": doc_id}}), orjson.dumps({**keys, **numbers})]
        store.client.bulk(body=b"\n".join(lines) + b"\n", params={"refresh": "true"})
        write(store, events[500:])       # the first layout's minute documents are added to
        assert store.rollups.widths_from > WHOLE_DAYS[1]
        assert "w" in next(iter(store.client.indices.get_mapping(index=index).values()))["mappings"]["properties"]
        assert_equal_to_brute_force(store, events, steps=(MINUTE_MS, DAY_MS))
    finally:
        store.close()


def test_an_index_made_before_a_dimension_was_added_gets_its_field(store_url, normalizer):
    store = open_store(store_url)
    try:
        index = f"{store.prefix}-rollups"
        older = {**MAPPING, "properties": {k: v for k, v in MAPPING["properties"].items() if k != "code"},
                 "_meta": {"widths_from": 0}}
        store.client.indices.create(index=index, body={"settings": {"number_of_shards": 1, "number_of_replicas": 0},
                                                       "mappings": older})
        events = events_of(normalizer)
        write(store, events)
        assert "code" in next(iter(store.client.indices.get_mapping(index=index).values()))["mappings"]["properties"]
        assert_equal_to_brute_force(store, events, steps=(DAY_MS,))
    finally:
        store.close()
