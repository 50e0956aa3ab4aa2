"""What counts as a failure is decided once (app/events/failures.py): the test on an event and the
query text must pick the same events, on every backend."""
from __future__ import annotations

import itertools

from app.events.failures import FAILURE_QUERY, INTEGRATION_FAILURE_QUERY, is_failure, is_integration_failure
from app.query import parse
from app.storage import SearchRequest

from tests.test_store import DAY0, event

OUTCOMES = (None, "success", "failure", "unknown")
LEVELS = (None, "info", "warning", "error", "critical")
STATUSES = (None, "ok", "success", "declined", "error", "timeout", "circuit_open")


def every_combination() -> list[dict]:
    events = []
    for n, (outcome, level, status) in enumerate(itertools.product(OUTCOMES, LEVELS, STATUSES)):
        fields = {}
        if outcome:
            fields["event__outcome"] = outcome
        if level:
            fields["log__level"] = level
        if status:
            fields["integration__status"] = status
        events.append(event(DAY0 + n * 1000, f"e{n}", **fields))
    return events


def found(store, text: str) -> set[str]:
    result = store.search(SearchRequest(query=parse(text), size=1000))
    return {hit["event"]["id"] for hit in result.hits}


def test_the_query_finds_exactly_the_events_the_test_accepts(store):
    events = every_combination()
    assert store.write(events).stored == len(events)
    failed = {e["event"]["id"] for e in events if is_failure(e)}
    provider = {e["event"]["id"] for e in events if is_integration_failure(e)}
    assert 0 < len(provider) < len(failed) < len(events)
    assert found(store, FAILURE_QUERY) == failed
    assert found(store, INTEGRATION_FAILURE_QUERY) == provider
