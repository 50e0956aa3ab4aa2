"""Rollups on the OpenSearch backend: one index, `<prefix>-rollups`, beside the event indices.

It matches none of the event templates' patterns (`<prefix>-<component>-*`), so it never gets
the read alias `<prefix>-events`: searches never see rollup documents; and the layout and
retention code ignore it (it parses as no component's index). It is created here with a strict
mapping of its own. Documents, one per minute and key (`t` says which family):
  c  minute, component, type, level, outcome, service, n
  p  minute, provider, kind, status, calls, failures, timeouts
  l  minute, provider, kind, bucket, n
  v  minute, measure, group, q1, q2, q3, bucket, n   (model.MEASURES: a value sketch's bucket)
Their `_id` is a hash of family, minute and key, so every process adds to the same document.
Every batch is added per minute and also per hour and per day (`w`: the document's width in
minutes, 60 or 1440, absent on minute documents; `minute` its start), so 30 days read about
30 documents per key, not 43,200. An index made before the widths (no `w` in its mapping) gets
the field when first opened, and its `_meta.widths_from` says from when the wider documents
count everything (the next day's start): reads before that use the minute documents only.

Adding: a `_bulk` of `update`s whose painless script adds the batch's numbers to the document's
(upsert: the numbers themselves when it does not exist yet), with `retry_on_conflict`: two
writers adding to one minute both count, OpenSearch re-running the loser's script on the new
version. Items throttled (429) are sent again (they were not applied); a request that fails in
flight is not (it may have been applied): that batch's rollups are logged as missing and
`platlogs rollups rebuild` puts them right. The rebuild replaces a range: delete by query, then
index the recomputed documents.

Reading: composite aggregations (paged, so any number of steps) — a `histogram` of `minute` with
the step as interval (aligned to multiples of the step from the epoch) and `terms` of the keys,
summing in the cluster — over the widest documents whose width divides the step (model.pieces).
The rebuild replaces minute documents, then recomputes the hours and days it touched from them.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Collection, Mapping
from typing import Any

import orjson

from ..rollups.model import (
    COLUMNS,
    COUNT_DIMENSIONS,
    DAY_MS,
    MINUTE_MS,
    WIDTHS,
    CountRow,
    ProviderRow,
    Sums,
    check_range,
    count_columns,
    pieces,
    values_query,
)

log = logging.getLogger(__name__)

ADD = (
    "for (e in params.add.entrySet()) { def v = ctx._source[e.getKey()]; "
    "ctx._source[e.getKey()] = (v == null ? 0 : v) + e.getValue(); }"
)
_KEYWORD = {"type": "keyword"}
MAPPING: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "t": _KEYWORD,
        "minute": {"type": "long"},
        **dict.fromkeys(COLUMNS.values(), _KEYWORD),
        "provider": _KEYWORD,
        "kind": _KEYWORD,
        "status": _KEYWORD,
        "bucket": {"type": "integer"},
        "w": {"type": "integer"},
        "measure": _KEYWORD,
        "group": _KEYWORD,
        "q1": _KEYWORD,
        "q2": _KEYWORD,
        "q3": _KEYWORD,
        **{n: {"type": "long"} for n in ("n", "calls", "failures", "timeouts")},
    },
}
PAGE = 2000
FAMILIES = {
    "c": (tuple(COLUMNS.values()), ("n",)),
    "p": (("provider", "kind", "status"), ("calls", "failures", "timeouts")),
    "l": (("provider", "kind", "bucket"), ("n",)),
    "v": (("measure", "group", "q1", "q2", "q3", "bucket"), ("n",)),
}


def documents(sums: Sums, widths: tuple[int, ...] = WIDTHS) -> list[tuple[str, dict, dict]]:
    """(id, key fields, numbers) of every document the sums add to, at each width."""
    out = []
    for (minute, *values), n in sums.counts.items():
        out.append(("c", minute, values, dict(zip(COLUMNS.values(), values, strict=False)), {"n": n}))
    for (minute, provider, kind, status), (calls, failures, timeouts) in sums.providers.items():
        out.append(
            (
                "p",
                minute,
                [provider, kind, status],
                {"provider": provider, "kind": kind, "status": status},
                {"calls": calls, "failures": failures, "timeouts": timeouts},
            )
        )
    for (minute, provider, kind, bucket), n in sums.latency.items():
        out.append(("l", minute, [provider, kind, bucket], {"provider": provider, "kind": kind, "bucket": bucket}, {"n": n}))
    for (minute, measure, group, q1, q2, q3, bucket), n in sums.values.items():
        out.append(
            (
                "v",
                minute,
                [measure, group, q1, q2, q3, bucket],
                {"measure": measure, "group": group, "q1": q1, "q2": q2, "q3": q3, "bucket": bucket},
                {"n": n},
            )
        )
    docs = []
    for width in widths:
        if width == MINUTE_MS:
            rows = out
        else:
            coarse: dict = {}
            for t, minute, values, keys, numbers in out:
                ident = (t, minute - minute % width, orjson.dumps(values))
                had = coarse.get(ident)
                if had is None:
                    coarse[ident] = (t, ident[1], values, keys, dict(numbers))
                else:
                    for name, x in numbers.items():
                        had[4][name] += x
            rows = list(coarse.values())
        w = width // MINUTE_MS
        for t, minute, values, keys, numbers in rows:
            docs.append(
                (
                    _doc_id(t, minute, values, w),
                    {
                        "t": t,
                        "minute": minute,
                        **({"w": w} if w != 1 else {}),
                        **{k: v for k, v in keys.items() if v is not None},
                    },
                    numbers,
                )
            )
    return docs


def _doc_id(t: str, minute: int, values: list, w: int) -> str:
    """A minute document's id is that of the first layout (adding goes on in its documents)."""
    ident = [t, minute, *values] if w == 1 else [t, minute, *values, {"w": w}]
    return hashlib.blake2b(orjson.dumps(ident), digest_size=16).hexdigest()


class OpenSearchRollups:
    def __init__(self, store):
        self.store = store
        self.client = store.client
        self.index = f"{store.prefix}-rollups"
        self._exc = store._exc
        self._ready = False
        self.widths_from = 0  # ms: before it, minute documents only (an index older than the widths)
        self._dirty = False
        self._lock = threading.Lock()

    def partition_group(self, name: str) -> str:
        """The component of an event partition's name (retention is per component here)."""
        return name[len(self.store.prefix) + 1 :].split("-", 1)[0]

    def _ensure(self) -> None:
        if self._ready:
            return
        with self._lock:
            if not self.client.indices.exists(index=self.index):
                try:
                    self.client.indices.create(
                        index=self.index,
                        body={
                            "settings": {"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "1s"},
                            "mappings": {**MAPPING, "_meta": {"widths_from": 0}},
                        },
                    )
                except self._exc.RequestError as exc:
                    if exc.error != "resource_already_exists_exception":
                        raise
            mapping = next(iter(self.client.indices.get_mapping(index=self.index).values()))["mappings"]
            meta = mapping.get("_meta") or {}
            missing = {k: v for k, v in MAPPING["properties"].items() if k not in mapping.get("properties", {})}
            if missing and "w" in mapping.get("properties", {}):  # a dimension added since
                self.client.indices.put_mapping(index=self.index, body={"properties": missing})
            if "w" not in mapping.get("properties", {}) or "widths_from" not in meta:
                # made before the widths: they count everything from the next day on
                meta = {**meta, "widths_from": meta.get("widths_from", -(-int(time.time() * 1000) // DAY_MS) * DAY_MS)}
                self.client.indices.put_mapping(index=self.index, body={"_meta": meta, "properties": missing})
            self.widths_from = int(meta["widths_from"])
            self._ready = True

    # -- writing ------------------------------------------------------------------------

    def add(self, sums: Sums) -> None:
        """Add a stored batch's sums; a failure is logged (the events are stored already)."""
        if not sums:
            return
        try:
            self._ensure()
            lines = []
            for doc_id, keys, numbers in documents(sums):
                lines.append(orjson.dumps({"update": {"_index": self.index, "_id": doc_id, "retry_on_conflict": 20}}))
                lines.append(
                    orjson.dumps(
                        {
                            "script": {"source": ADD, "lang": "painless", "params": {"add": numbers}},
                            "upsert": {**keys, **numbers},
                        }
                    )
                )
            self._bulk(lines)
        except (self._exc.ConnectionError, self._exc.ConnectionTimeout, self._exc.TransportError, RuntimeError) as exc:
            log.error("rollups of a stored batch were not kept (%s): run `platlogs rollups rebuild`", exc)

    def _bulk(self, lines: list[bytes], chunk: int = 4000) -> None:
        """Send action/document line pairs; items throttled (429) again, other failures raise."""
        pending = [lines[i : i + 2] for i in range(0, len(lines), 2)]
        while pending:
            part, pending = pending[:chunk], pending[chunk:]
            for attempt in range(self.store.retries + 1):
                response = self.client.bulk(
                    body=b"\n".join(line for pair in part for line in pair) + b"\n",
                    params={"filter_path": "errors,items.*.status,items.*.error"},
                )
                self._dirty = True
                if not response.get("errors"):
                    break
                retry, failed = [], []
                for pair, item in zip(part, response["items"], strict=False):
                    outcome = next(iter(item.values()))
                    if outcome.get("status") == 429:
                        retry.append(pair)
                    elif outcome.get("status", 500) >= 300:
                        failed.append(outcome.get("error"))
                if failed:
                    raise RuntimeError(f"{len(failed)} rollup documents refused, e.g. {failed[0]}")
                if not retry:
                    break
                part = retry
                time.sleep(self.store.backoff_s * 2**attempt)
            else:
                raise RuntimeError("rollup documents throttled (429) after every retry")

    def replace(self, start_ms: int, end_ms: int, sums: Sums) -> None:
        """The sums of [start_ms, end_ms) become `sums` (the rebuild)."""
        self._ensure()
        self._delete(MINUTE_MS, start_ms, end_ms)
        self._index(documents(sums, widths=(MINUTE_MS,)))
        self._refresh()
        for width in WIDTHS[1:]:  # the hours and days it touched, from their minutes
            low, high = start_ms - start_ms % width, -(-end_ms // width) * width
            self._delete(width, low, high)
            docs = []
            for t, (fields, numbers) in FAMILIES.items():
                filters = [{"term": {"t": t}}, self._piece(MINUTE_MS, low, high)]
                sources = [("s", {"histogram": {"field": "minute", "interval": width}})] + [
                    (f, {"terms": {"field": f, "missing_bucket": True}}) for f in fields
                ]
                for key, found in self._composite(filters, sources, numbers):
                    values = [int(key[f]) if f == "bucket" else key[f] for f in fields]
                    docs.append(
                        (
                            _doc_id(t, int(key["s"]), values, width // MINUTE_MS),
                            {
                                "t": t,
                                "minute": int(key["s"]),
                                "w": width // MINUTE_MS,
                                **{f: v for f, v in zip(fields, values, strict=True) if v is not None},
                            },
                            found,
                        )
                    )
            self._index(docs)
        self._refresh()

    def _delete(self, width: int, start_ms: int, end_ms: int) -> None:
        self.store._call(
            self.client.delete_by_query,
            index=self.index,
            body={"query": {"bool": {"filter": [self._piece(width, start_ms, end_ms)]}}},
            params={"refresh": "true", "conflicts": "proceed"},
        )

    def _index(self, docs: list[tuple[str, dict, dict]]) -> None:
        lines = []
        for doc_id, keys, numbers in docs:
            lines.append(orjson.dumps({"index": {"_index": self.index, "_id": doc_id}}))
            lines.append(orjson.dumps({**keys, **numbers}))
        self._bulk(lines)

    # -- reading ------------------------------------------------------------------------

    def dimensions(self) -> tuple[str, ...]:
        """The count dimensions every counts document has: an index made before the widths also
        predates the integration call's three (its documents lack them)."""
        self._ensure()
        return COUNT_DIMENSIONS if self.widths_from == 0 else COUNT_DIMENSIONS[:5]

    def _refresh(self) -> None:
        if self._dirty:
            self._dirty = False
            self.store._call(self.client.indices.refresh, index=self.index)

    def _composite(self, filters: list[dict], sources: list[tuple[str, dict]], sums: tuple[str, ...]):
        """Every bucket of a composite aggregation: (key dict, {sum name: int})."""
        self._ensure()
        self._refresh()
        body: dict[str, Any] = {
            "size": 0,
            "track_total_hits": False,
            "query": {"bool": {"filter": filters}},
            "aggs": {
                "r": {
                    "composite": {"size": PAGE, "sources": [{name: source} for name, source in sources]},
                    "aggs": {name: {"sum": {"field": name}} for name in sums},
                }
            },
        }
        while True:
            found = self.store._call(self.client.search, index=self.index, body=body)["aggregations"]["r"]
            for bucket in found["buckets"]:
                yield bucket["key"], {name: int(bucket[name]["value"]) for name in sums}
            if len(found["buckets"]) < PAGE or "after_key" not in found:
                return
            body["aggs"]["r"]["composite"]["after"] = found["after_key"]

    @staticmethod
    def _piece(width: int, start_ms: int, end_ms: int) -> dict:
        """The documents of one width starting in [start_ms, end_ms)."""
        span = {"range": {"minute": {"gte": start_ms, "lt": end_ms}}}
        if width == MINUTE_MS:
            return {"bool": {"filter": [span], "must_not": [{"exists": {"field": "w"}}]}}
        return {"bool": {"filter": [span, {"term": {"w": width // MINUTE_MS}}]}}

    def _range(self, t: str, start_ms: int, end_ms: int, step_ms: int) -> tuple[list[dict], tuple[str, dict]]:
        """Filters of the widest documents covering [start_ms, end_ms) at this step, and the step's source."""
        self._ensure()
        parts = [self._piece(*piece) for piece in pieces(start_ms, end_ms, step_ms, self.widths_from)]
        within = {"bool": {"should": parts, "minimum_should_match": 1}} if parts else {"match_none": {}}
        return ([{"term": {"t": t}}, within], ("s", {"histogram": {"field": "minute", "interval": step_ms}}))

    @staticmethod
    def _any_of(name: str, values: Collection[str | None]) -> dict:
        present = [v for v in values if v is not None]
        should: list[dict] = [{"terms": {name: present}}] if present else []
        if len(present) < len(values):
            should.append({"bool": {"must_not": [{"exists": {"field": name}}]}})
        return {"bool": {"should": should, "minimum_should_match": 1}} if should else {"match_none": {}}

    def counts(
        self,
        start_ms: int,
        end_ms: int,
        step_ms: int,
        by: tuple[str, ...],
        where: Mapping[str, Collection[str]] | None = None,
    ) -> list[CountRow]:
        check_range(start_ms, end_ms, step_ms)
        columns = count_columns(by)
        filters, step = self._range("c", start_ms, end_ms, step_ms)
        for column, values in zip(count_columns(tuple(where or ())), (where or {}).values(), strict=False):
            filters.append(self._any_of(column, list(values)))
        sources = [step] + [(c, {"terms": {"field": c, "missing_bucket": True}}) for c in columns]
        return [
            CountRow(int(key["s"]), tuple(key[c] for c in columns), n["n"])
            for key, n in self._composite(filters, sources, ("n",))
        ]

    def providers(
        self, start_ms: int, end_ms: int, step_ms: int, providers: Collection[str] | None = None, latency: bool = True
    ) -> list[ProviderRow]:
        check_range(start_ms, end_ms, step_ms)
        out: dict[tuple, ProviderRow] = {}

        def row(key) -> ProviderRow:
            ident = (int(key["s"]), key["provider"], key["kind"])
            found = out.get(ident)
            if found is None:
                found = out[ident] = ProviderRow(*ident)
            return found

        keys: list[tuple[str, dict]] = [
            ("provider", {"terms": {"field": "provider"}}),
            ("kind", {"terms": {"field": "kind", "missing_bucket": True}}),
        ]
        filters, step = self._range("p", start_ms, end_ms, step_ms)
        if providers is not None:
            filters.append(self._any_of("provider", list(providers)))
        status: tuple[str, dict] = ("status", {"terms": {"field": "status", "missing_bucket": True}})
        for key, n in self._composite(filters, [step, *keys, status], ("calls", "failures", "timeouts")):
            r = row(key)
            r.calls += n["calls"]
            r.failures += n["failures"]
            r.timeouts += n["timeouts"]
            if key["status"] is not None:
                r.statuses[key["status"]] = n["calls"]
        filters[0] = {"term": {"t": "l"}}
        sources = [step, *keys, ("bucket", {"terms": {"field": "bucket"}})]
        for key, n in () if not latency else self._composite(filters, sources, ("n",)):
            row(key).latency[int(key["bucket"])] = n["n"]
        return sorted(out.values(), key=lambda r: (r.start_ms, r.provider, r.kind or ""))

    def values(
        self, start_ms: int, end_ms: int, field: str, where: Mapping[str, Collection[str | None]] | None = None
    ) -> dict[str | None, dict[int, int]]:
        """The sketch of a MEASURES field over [start_ms, end_ms) per value of its group field, summed
        in the cluster (as rollups_sqlite_series.values); `where`: {qualifier: allowed values}. An
        index older than the value documents has none for its earlier minutes: the reader's check
        against the store's count (app/dashboards/rollup_percentiles.agreeing) sees that."""
        step, wanted = values_query(start_ms, end_ms, field, where)
        filters, _ = self._range("v", start_ms, end_ms, step)
        filters.append({"term": {"measure": field}})
        for position, allowed in wanted.items():
            filters.append(self._any_of(f"q{position + 1}", list(allowed)))
        out: dict[str | None, dict[int, int]] = {}
        sources: list[tuple[str, dict]] = [
            ("group", {"terms": {"field": "group", "missing_bucket": True}}),
            ("bucket", {"terms": {"field": "bucket"}}),
        ]
        for key, n in self._composite(filters, sources, ("n",)):
            buckets = out.setdefault(key["group"], {})
            buckets[int(key["bucket"])] = buckets.get(int(key["bucket"]), 0) + n["n"]
        return out
