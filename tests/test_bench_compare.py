"""bench/compare's harness is correct: at a tiny size, every system answers every query and every
exact count, hit list, facet and histogram agrees across them. A test of the harness, not of speed:
nothing here is timed. A peer whose package is not installed is skipped by the bench itself (the
`bench` extra); the project (HTTP and store API) and raw SQLite always run."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # bench/ is not an installed package

from bench.compare.common import FACETS, Answer, Query, disagreements, facet_view
from bench.compare.run import main

EVENTS = 3000


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    work = tmp_path_factory.mktemp("compare")
    return main(["--events", str(EVENTS), "--repeat", "1", "--work-dir", str(work), "--json", str(work / "out.json")])


def installed(system: str) -> bool:
    return system == "sqlite" or importlib.util.find_spec(system) is not None


@pytest.mark.parametrize("system", ["project", "project-served", "sqlite", "tantivy", "duckdb", "chdb"])
def test_every_system_answers_every_query(run, system):
    if system in ("tantivy", "duckdb", "chdb") and not installed(system):
        pytest.skip(f"{system} is not installed (pip install -e '.[bench]')")
    results = run["results"]
    assert system in results, run["info"]["notes"]
    answers = results[system]["queries"]
    assert sorted(answers) == list("abcdefg")
    for key, item in answers.items():
        assert "error" not in item, (system, key, item)
        assert item["runs"] == 1


def test_the_counts_agree(run):
    assert run["disagreements"] == []
    assert run["failures"] == []
    results = run["results"]
    exact = [name for name in ("project", "sqlite", "tantivy", "duckdb", "chdb") if name in results]
    assert {"project", "sqlite"} <= set(exact)
    for query in run["queries"]:
        key = query["key"]
        counts = {name: results[name]["queries"][key]["answer"]["count"] for name in exact}
        assert len(set(counts.values())) == 1, (key, counts)
        assert all(results[name]["queries"][key]["answer"]["exact"] for name in exact)
        first = results["project"]["queries"][key]["answer"]
        if key != "g":   # the last 24 hours of 3,000 events may hold no match of the word
            assert first["count"] > 0, (key, query)
        if query["facets"]:
            assert sum(first["histogram"].values()) == first["count"]
            for name in exact:
                answer = results[name]["queries"][key]["answer"]
                assert answer["histogram"] == first["histogram"], (key, name)
                for facet in FACETS:
                    assert facet_view(answer["facets"][facet]) == facet_view(first["facets"][facet]), (key, name, facet)


def test_all_events_are_counted_and_ingested(run):
    results = run["results"]
    everything = next(q for q in run["queries"] if q["kind"] == "all")
    assert results["project"]["queries"][everything["key"]]["answer"]["count"] == EVENTS
    for name in ("project-http", "project-inprocess", "sqlite"):
        ingest = results[name]["ingest"]
        assert ingest["events"] == EVENTS, (name, ingest)
        assert ingest["rate"] > 0 and ingest["bytes_per_event"] > 0 and ingest["peak_rss_mb"] > 0


def test_the_report_has_both_tables_and_the_machine(run):
    table = run["table"]
    assert "| ingest of the same file | events/s | bytes on disk per event | peak RSS |" in table
    assert "| query (p50 / p95 ms) |" in table
    assert "Machine: " in table and " cores " in table
    assert "DISAGREE" not in table


def test_a_difference_is_reported_loudly():
    query = Query("d", "common word + facets", "word", 0, 10, value="wallet", facets=True)
    same = Answer(count=3, hits=[3, 2, 1], facets={"log.level": [["info", 2], ["error", 1]]}, histogram={"0": 3})
    other = Answer(count=4, hits=[3, 2, 1], facets={"log.level": [["info", 3], ["error", 1]]}, histogram={"0": 4})
    assert disagreements(query, {"project": same, "tantivy": same}) == []
    problems = disagreements(query, {"project": same, "tantivy": other})
    assert any(p.startswith("count: project 3 vs tantivy 4") for p in problems)
    assert any(p.startswith("facet log.level") for p in problems)
    assert any(p.startswith("histogram") for p in problems)
    # a count bounded as served is not compared
    bounded = Answer(count=10_000, exact=False)
    assert disagreements(query, {"project": same, "project-served": bounded}) == []
