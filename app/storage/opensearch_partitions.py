"""The partitions the OpenSearch backend reports, and retention over them.

A partition of the LogStore protocol is a span of event time that retention drops whole. On
the rollover layout (opensearch_layout.py) a generation holds many days, so its partitions are
the calendar spans of the events it holds, cut like the embedded store's partitions
(partitioning.py): a UTC day within `day_partition_days` of today, else the year or month that
contains it and ends before that window (whichever is the larger). They are counted with
`date_histogram`s — one `_msearch`, three searches per generation — and named
`<generation>/<period>` (e.g. `platlogs-api-g20261201t0000/2026.12.02`). A legacy calendar index
of the old daily layout is one partition, as before.

Retention (`drop`): a partition goes once its span ends at or before the cutoff. A generation all
of whose partitions go is deleted whole (but never the newest one of its component: the write
index stays, emptied); otherwise its expired partitions are deleted by query (`@timestamp` below
the end of the last of them), so retention on OpenSearch is exact to the partition, as on the
embedded store — not just to the generation. Without ISM, `platlogs retention` does it; with ISM,
the generations' policies delete whole generations a day after their retention has passed since
their rollover (opensearch_templates.py), and `platlogs retention` can still trim the boundary.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from .base import Partition
from .opensearch_layout import parse_generation, parse_legacy
from .partitioning import DAY_MS, day_span, month_span, span_name, year_span

_UNITS = {"1y": year_span, "1M": month_span, "1d": day_span}


@dataclass
class Piece:
    partition: Partition
    component: str
    index: str
    generation: bool


def _ranges(now_ms: int, day_partition_days: int) -> list[tuple[int | None, int | None, str]]:
    """(from, to, calendar interval): years before the year of the window's start, months of that
    year before its month, days from then on."""
    window_start = (now_ms // DAY_MS - day_partition_days) * DAY_MS
    year_cut, month_cut = year_span(window_start)[0], month_span(window_start)[0]
    out: list[tuple[int | None, int | None, str]] = [(None, year_cut, "1y")]
    if month_cut > year_cut:
        out.append((year_cut, month_cut, "1M"))
    out.append((month_cut, None, "1d"))
    return out


def generation_spans(prefix: str, components, rows: list[dict]) -> dict[str, tuple[str, int | None, int | None, bool]]:
    """Each generation's (component, start, end, newest): None for an open side."""
    by_component: dict[str, list[tuple[int, str]]] = {}
    for row in rows:
        gen = parse_generation(prefix, row["index"], components)
        if gen:
            by_component.setdefault(gen[0], []).append((gen[1], row["index"]))
    out = {}
    for component, gens in by_component.items():
        gens.sort()
        for i, (start, name) in enumerate(gens):
            end = gens[i + 1][0] if i + 1 < len(gens) else None
            out[name] = (component, start if i else None, end, i + 1 == len(gens))
    return out


def pieces(store, rows: list[dict], now_ms: int) -> list[Piece]:
    """Every partition of the store, with its component and index."""
    out: list[Piece] = []
    spans = generation_spans(store.prefix, store.components, rows)
    searches: list[tuple[str, str, dict]] = []
    for row in rows:
        index, docs = row["index"], int(row.get("docs.count") or 0)
        if row.get("status", "open") != "open":
            continue
        if (old := parse_legacy(store.prefix, index, store.components)) is not None:
            out.append(Piece(Partition(index, old[1], old[2], docs), old[0], index, False))
        elif index in spans and docs:
            for low, high, interval in _ranges(now_ms, store.day_partition_days):
                window = {k: v for k, v in (("gte", low), ("lt", high)) if v is not None}
                searches.append(
                    (
                        index,
                        interval,
                        {
                            "size": 0,
                            "track_total_hits": False,
                            "query": {"range": {"@timestamp": {**window, "format": "epoch_millis"}}},
                            "aggs": {
                                "h": {
                                    "date_histogram": {
                                        "field": "@timestamp",
                                        "calendar_interval": interval,
                                        "min_doc_count": 1,
                                    }
                                }
                            },
                        },
                    )
                )
    for start in range(0, len(searches), 150):
        chunk = searches[start : start + 150]
        payload = b"".join(orjson.dumps({"index": index}) + b"\n" + orjson.dumps(body) + b"\n" for index, _, body in chunk)
        responses = store._call(store.client.msearch, body=payload)["responses"]
        for (index, interval, _), response in zip(chunk, responses, strict=False):
            if "error" in response:
                continue  # deleted meanwhile
            component, low, high, _ = spans[index]
            for bucket in response["aggregations"]["h"]["buckets"]:
                unit = _UNITS[interval](bucket["key"])
                start_ms = max(unit[0], low) if low is not None else unit[0]
                end_ms = min(unit[1], high) if high is not None else unit[1]
                if start_ms >= end_ms:  # events outside the generation's span: the whole unit
                    start_ms, end_ms = unit
                name = f"{index}/{span_name(*unit, '.')}"
                out.append(Piece(Partition(name, start_ms, end_ms, bucket["doc_count"]), component, index, True))
    return out


def drop(store, rows: list[dict], now_ms: int, cutoffs: dict[str, int]) -> list[str]:
    """Retention: every partition of a component in `cutoffs` whose span ends at or before its
    cutoff (see the module's docstring). The names of the partitions dropped, oldest first."""
    found = pieces(store, rows, now_ms)
    spans = generation_spans(store.prefix, store.components, rows)
    by_index: dict[str, list[Piece]] = {}
    for piece in found:
        by_index.setdefault(piece.index, []).append(piece)
    dropped: list[Piece] = []
    whole: list[str] = []
    trimmed: dict[str, int] = {}
    for index, items in by_index.items():
        cutoff = cutoffs.get(items[0].component)
        if cutoff is None:
            continue
        gone = [p for p in items if p.partition.end_ms <= cutoff]
        if not gone:
            continue
        dropped += gone
        newest = items[0].generation and spans[index][3]
        if len(gone) == len(items) and not newest:
            whole.append(index)
        else:
            trimmed[index] = max(p.partition.end_ms for p in gone)
    for index, (component, _, end, newest) in spans.items():  # generations left empty
        if index not in by_index and not newest and end is not None and component in cutoffs and end <= cutoffs[component]:
            whole.append(index)
    store._delete(whole)
    for index, bound in sorted(trimmed.items()):
        store._call(
            store.client.delete_by_query,
            index=index,
            body={"query": {"range": {"@timestamp": {"lt": bound, "format": "epoch_millis"}}}},
            params={"refresh": "true", "conflicts": "proceed", "wait_for_completion": "true"},
            request_timeout=3600,
        )
    return [p.partition.name for p in sorted(dropped, key=lambda p: (p.partition.start_ms, p.partition.name))]
