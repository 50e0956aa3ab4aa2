"""The OpenSearch backend: the same LogStore protocol as the embedded store, on a cluster.

Layout: one index per log component per partition of the event's @timestamp — a UTC day for
recent times, a month or year for old ones (partitioning.py; names in opensearch_layout.py):
`<prefix>-<component>-YYYY.MM.DD` (or `YYYY.MM`, `YYYY`), created from the templates in
index_templates/ (installed at start-up). Every index carries the read alias `<prefix>-events`,
which searches use.

Why dated indices chosen by event time, rather than a data stream with rollover behind a write
alias: rollover cuts indices by arrival time, so a backfill, a migration or a provider's late
callback would land in today's index and be deleted on the wrong day; and a client-chosen
event.id is deduplicated by creating the document under that id, which needs the id's index to
follow from the event alone. Retention still deletes whole indices (ISM where the cluster has
it, `drop_partitions_before` otherwise).

Writes are `_bulk` requests split by count and bytes, retried with backoff on 429 and on
connection errors; every item's outcome is reported by position like the embedded store does.
A search first refreshes the indices this process wrote to since its last search, so a writer
reads its own writes at once (other processes see them within the refresh interval, 1 s).
"""
from __future__ import annotations

import base64
import re
import threading
import time
from typing import Sequence
from urllib.parse import parse_qs, unquote, urlsplit

import orjson

from ..events.schema import get_path, load_schema
from ..query.ast import QueryError
from ..query.dsl import DSLCompiler, fold
from ..query.fields import resolve
from . import opensearch_templates as templates
from .opensearch_layout import IndexLayout, parse_index
from .partitioning import DEFAULT_DAY_PARTITION_DAYS
from .base import (Bucket, CursorError, Facet, FacetValue, Partition, SearchRequest, SearchResult, StoreError,
                   WriteResult, histogram_buckets)
from .sqlite import ID_CODE, key_token

DAY_MS = 86_400_000
RETRY_STATUSES = {429, 502, 503, 504}
PIT_KEEP_ALIVE = "2m"


def encode_cursor(ts: int, event_id: str, newest_first: bool, pit: str | None = None) -> str:
    raw = orjson.dumps([ts, event_id, "d" if newest_first else "a", pit])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, newest_first: bool) -> tuple[int, str, str | None]:
    try:
        ts, event_id, order, pit = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not (isinstance(ts, int) and isinstance(event_id, str) and (pit is None or isinstance(pit, str))):
            raise ValueError
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise CursorError("cursor: not a cursor this server issued") from None
    if order != ("d" if newest_first else "a"):
        raise CursorError("cursor: issued for the other sort order")
    return ts, event_id, pit



class OpenSearchStore:
    def __init__(self, client, prefix: str = "platlogs", max_bulk_docs: int = 5000,
                 max_bulk_bytes: int = 8 << 20, retries: int = 5, backoff_s: float = 0.2,
                 install: bool = True, day_partition_days: int = DEFAULT_DAY_PARTITION_DAYS):
        from opensearchpy import exceptions
        self._exc = exceptions
        self.client = client
        self.prefix = prefix
        self.alias = f"{prefix}-events"
        self.max_bulk_docs = max_bulk_docs
        self.max_bulk_bytes = max_bulk_bytes
        self.retries = retries
        self.backoff_s = backoff_s
        schema = load_schema()
        self.components = tuple(schema.components)
        # the same key fields and token codes as the embedded store's `keys` column
        self.key_fields = {f.name: f"k{i}x" for i, f in enumerate(schema.columns) if f.index}
        self.key_fields["event.id"] = ID_CODE
        self.key_paths = [(code, load_schema().fields[name].path) for name, code in self.key_fields.items()]
        self._dirty: set[str] = set()
        self._dirty_lock = threading.Lock()
        self.has_ism = False
        self.layout = IndexLayout(prefix, self.components, self._index_names, day_partition_days)
        if install:
            self.install_templates()

    @classmethod
    def from_url(cls, url: str, username: str | None = None, password: str | None = None,
                 ca_file=None, verify_tls: bool = True, **options) -> "OpenSearchStore":
        """opensearch://host:9200 (HTTP) or opensearch+https://host:9200 (TLS); credentials in the
        URL or as options; `?prefix=name` names the indices (default platlogs)."""
        from opensearchpy import OpenSearch
        parts = urlsplit(url)
        use_tls = parts.scheme == "opensearch+https"
        query = parse_qs(parts.query)
        username = username or (unquote(parts.username) if parts.username else None)
        password = password or (unquote(parts.password) if parts.password else None)
        prefix = query.get("prefix", [options.pop("prefix", "platlogs")])[0]
        if "day_partition_days" in query:
            options["day_partition_days"] = int(query["day_partition_days"][0])
        if not re.fullmatch(r"[a-z][a-z0-9_]*", prefix):
            raise ValueError(f"store prefix {prefix!r}: lower-case letters, digits and _ only")
        client = OpenSearch(
            hosts=[{"host": parts.hostname or "localhost", "port": parts.port or 9200}],
            http_auth=(username, password) if username else None,
            use_ssl=use_tls, verify_certs=use_tls and verify_tls, ssl_show_warn=False,
            ca_certs=str(ca_file) if ca_file else None,
            timeout=30, http_compress=False,
        )
        from opensearchpy import exceptions
        where = f"OpenSearch at {parts.hostname}:{parts.port or 9200}"
        try:
            return cls(client, prefix=prefix, **options)
        except (exceptions.AuthenticationException, exceptions.AuthorizationException) as exc:
            raise StoreError(f"{where} refused the credentials (PLATLOGS_STORE_USERNAME / _PASSWORD): "
                             f"{exc.status_code}") from None
        except exceptions.SSLError as exc:
            raise StoreError(f"{where}: its TLS certificate is not trusted (set PLATLOGS_STORE_CA_FILE): {exc}") from None
        except cls._connection_errors() as exc:
            raise StoreError(f"{where} is unreachable: {exc}") from exc

    @staticmethod
    def _connection_errors():
        from opensearchpy import exceptions
        return (exceptions.ConnectionError, exceptions.ConnectionTimeout)

    # -- templates ----------------------------------------------------------------------

    def _named(self, name: str) -> str:
        return self.prefix + name[len("platlogs"):] if name.startswith("platlogs") else name

    def install_templates(self) -> None:
        """Writes the component template, the per-component index templates and (where the
        cluster has Index State Management) the retention policies, each only when missing or
        older than the version in index_templates/."""
        common = orjson.loads(orjson.dumps(templates.common_template(templates.template_version())))
        common["template"]["aliases"] = {self.alias: {}}
        name = self._named(templates.COMMON)
        if self._installed_version("component", name) != common["version"]:
            self.client.cluster.put_component_template(name=name, body=common)
        for tpl_name, body in templates.component_templates().items():
            body = dict(body, index_patterns=[self._named(p) for p in body["index_patterns"]],
                        composed_of=[self._named(c) for c in body["composed_of"]])
            name = self._named(tpl_name)
            if self._installed_version("index", name) != body["version"]:
                self.client.indices.put_index_template(name=name, body=body)
        self.has_ism = self._install_policies()

    def _installed_version(self, kind: str, name: str) -> int | None:
        if kind == "component":
            found = self.client.cluster.get_component_template(name=name, ignore=404)
            return (found.get("component_templates") or [{}])[0].get("component_template", {}).get("version")
        found = self.client.indices.get_index_template(name=name, ignore=404)
        return (found.get("index_templates") or [{}])[0].get("index_template", {}).get("version")

    def _install_policies(self) -> bool:
        """ISM policies, when the plugin is there; False when it is not (retention then runs in the app)."""
        for policy_id, body in templates.retention_policies().items():
            body = orjson.loads(orjson.dumps(body))
            for t in body["policy"].get("ism_template", []):
                t["index_patterns"] = [self._named(p) for p in t["index_patterns"]]
            try:
                self.client.transport.perform_request("PUT", f"/_plugins/_ism/policies/{self._named(policy_id)}",
                                                      body=body)
            except self._exc.ConflictError:
                pass   # installed already (policies change through the cluster's own tools)
            except (self._exc.NotFoundError, self._exc.RequestError):
                return False   # no ISM plugin on this cluster
        return True

    # -- writes -------------------------------------------------------------------------

    def _document(self, event: dict) -> tuple[str, int, str, bool, bytes]:
        event.pop("_columns", None)
        ts = event.pop("_ts")
        client_id = bool(event.pop("_client_id", False))
        event_id = event["event"]["id"]
        keys = (key_token(code, get_path(event, path)) for code, path in self.key_paths)
        event["search_keys"] = [fold(k) for k in keys if k]
        doc = orjson.dumps(event)
        del event["search_keys"]
        component = event["event"].get("component")
        if component not in self.components:
            raise ValueError(f"event.component {component!r} is not one of {', '.join(self.components)}")
        return component, ts, event_id, client_id, doc

    def write(self, events: Sequence[dict]) -> WriteResult:
        result = WriteResult()
        documents = []
        for pos, event in enumerate(events):
            try:
                documents.append((pos, *self._document(event)))
            except (KeyError, TypeError, ValueError) as exc:
                result.refused.append((pos, f"cannot be stored: {exc}"))
        try:
            indices = self.layout.indices([(component, ts) for _, component, ts, *_ in documents])
        except (self._exc.ConnectionError, self._exc.ConnectionTimeout, self._exc.TransportError) as exc:
            result.failed.extend((pos, f"storage unreachable, not stored: {exc}") for pos, *_ in documents)
            return result
        chunk: list[tuple[int, bytes, bool]] = []
        size = 0
        for (pos, _, _, event_id, client_id, doc), index in zip(documents, indices):
            line = orjson.dumps({"create": {"_index": index, "_id": event_id}}) + b"\n" + doc + b"\n"
            if chunk and (len(chunk) >= self.max_bulk_docs or size + len(line) > self.max_bulk_bytes):
                self._send(chunk, result)
                chunk, size = [], 0
            chunk.append((pos, line, client_id))
            size += len(line)
        if chunk:
            self._send(chunk, result)
        result.failed.sort()
        result.refused.sort()
        return result

    def _send(self, chunk: list[tuple[int, bytes, bool]], result: WriteResult) -> None:
        """One bulk request; items refused with 429 and whole requests that fail to connect or
        are throttled are sent again after a growing pause. Creating under the event's id makes
        a repeated item harmless: on a retry, "exists already" means our first attempt stored it."""
        pending = chunk
        for attempt in range(self.retries + 1):
            retry_items: list[tuple[int, bytes, bool]] = []
            try:
                response = self.client.bulk(body=b"".join(line for _, line, _ in pending), params={
                    "filter_path": "errors,items.*.status,items.*.error.type,items.*.error.reason,items.*._index"})
            except (self._exc.ConnectionError, self._exc.ConnectionTimeout) as exc:
                retry_items, reason = pending, f"storage unreachable, not stored: {exc}"
            except self._exc.TransportError as exc:
                if exc.status_code not in RETRY_STATUSES:
                    for pos, _, _ in pending:
                        result.failed.append((pos, f"storage refused the batch: {exc.error}"))
                    return
                retry_items, reason = pending, f"storage overloaded, not stored: {exc.error}"
            else:
                items = response.get("items", [])
                for (pos, line, client_id), item in zip(pending, items):
                    outcome = next(iter(item.values()))
                    status = outcome.get("status", 500)
                    if status in (200, 201):
                        result.stored += 1
                        with self._dirty_lock:
                            self._dirty.add(outcome.get("_index", self.alias))
                    elif status == 409:
                        if client_id or attempt == 0:
                            result.duplicates.append(pos)
                        else:
                            result.stored += 1
                    elif status == 429:
                        retry_items.append((pos, line, client_id))
                    else:
                        error = outcome.get("error", {})
                        reason = f"refused by the store: {error.get('type')}: {error.get('reason')}"
                        (result.refused if 400 <= status < 500 else result.failed).append((pos, reason))
                reason = "storage overloaded (429), not stored"
            if not retry_items:
                result.duplicates.sort()
                return
            pending = retry_items
            if attempt < self.retries:
                time.sleep(self.backoff_s * 2 ** attempt)
        for pos, _, _ in pending:
            result.failed.append((pos, reason))
        result.duplicates.sort()

    def _refresh(self) -> None:
        """Make this process's own writes searchable before it searches."""
        with self._dirty_lock:
            dirty, self._dirty = self._dirty, set()
        if dirty:   # by name when few (a URL line is at most 4 KB), else every index behind the alias
            names = ",".join(sorted(dirty)) if len(dirty) <= 20 else self.alias
            self._call(self.client.indices.refresh, index=names, params={"ignore_unavailable": "true"})

    def _call(self, method, **kwargs):
        try:
            return method(**kwargs)
        except (self._exc.ConnectionError, self._exc.ConnectionTimeout) as exc:
            raise StoreError(f"OpenSearch is unreachable: {exc}") from exc
        except self._exc.TransportError as exc:
            if exc.status_code in RETRY_STATUSES:
                raise StoreError(f"OpenSearch cannot answer now ({exc.status_code}): {exc.error}") from exc
            raise

    # -- reads --------------------------------------------------------------------------

    def get(self, event_id: str) -> dict | None:
        found = self.locate(event_id)
        return found[0] if found else None

    def locate(self, event_id: str) -> tuple[dict, str, str] | None:
        self._refresh()
        body = {"query": {"term": {"event.id": event_id}}, "size": 1,
                "sort": [{"@timestamp": "desc"}, {"event.id": "desc"}]}
        params = {"ignore_unavailable": "true", "allow_no_indices": "true"}
        hits = self._call(self.client.search, index=self.alias, body=body, params=params)["hits"]["hits"]
        if not hits:   # perhaps written by another process in the last second: make it visible
            self._call(self.client.indices.refresh, index=self.alias, params=params)
            hits = self._call(self.client.search, index=self.alias, body=body, params=params)["hits"]["hits"]
        if not hits:
            return None
        ts, eid = hits[0]["sort"]
        return hits[0]["_source"], encode_cursor(ts, eid, False), encode_cursor(ts, eid, True)

    def count(self) -> int:
        self._refresh()
        return self._call(self.client.count, index=self.alias,
                          params={"ignore_unavailable": "true", "allow_no_indices": "true"})["count"]

    def _index_names(self) -> list[str]:
        rows = self.client.cat.indices(index=f"{self.prefix}-*",
                                       params={"format": "json", "h": "index", "expand_wildcards": "all"})
        return [row["index"] for row in rows]

    def partitions(self) -> list[Partition]:
        self._refresh()
        rows = self._call(self.client.cat.indices, index=f"{self.prefix}-*",
                          params={"format": "json", "h": "index,docs.count", "expand_wildcards": "open"})
        parts = []
        for row in rows:
            parsed = parse_index(self.prefix, row["index"], self.components)
            if parsed:
                parts.append(Partition(row["index"], parsed[1], parsed[2], int(row.get("docs.count") or 0)))
        return sorted(parts, key=lambda p: (p.start_ms, p.name))

    def drop_partitions_before(self, cutoff_ms: int) -> list[str]:
        dropped = [p.name for p in self.partitions() if p.end_ms <= cutoff_ms]
        self._delete(dropped)
        return dropped

    def _delete(self, names: list[str]) -> None:
        for start in range(0, len(names), 50):   # bounded URL length
            self._call(self.client.indices.delete, index=",".join(names[start:start + 50]),
                       params={"ignore_unavailable": "true"})
        if names:
            self.layout.forget()

    def drop_expired(self, now_ms: int, days: dict[str, int] | None = None) -> list[str]:
        """The app's own retention, for clusters without Index State Management: deletes each
        component's indices once they are older than its policy in index_templates/retention/."""
        days = days if days is not None else templates.retention_days()
        expired = [p.name for p in self.partitions()
                   if (c := parse_index(self.prefix, p.name, self.components)[0]) in days
                   and p.end_ms <= now_ms - days[c] * DAY_MS]
        self._delete(expired)
        return expired

    def close(self) -> None:
        try:
            self._refresh()   # a writer that ends (the CLI's ingest) leaves its writes searchable
        except Exception:  # noqa: BLE001 — closing must not fail because the cluster went away
            pass
        self.client.close()

    # -- search -------------------------------------------------------------------------

    def search(self, request: SearchRequest) -> SearchResult:
        self._refresh()
        now_ms = request.now_ms if request.now_ms is not None else int(time.time() * 1000)
        query = DSLCompiler(self.key_fields, key_token, now_ms).compile(request.query)
        window = {}
        if request.start_ms is not None:
            window["gte"] = request.start_ms
        if request.end_ms is not None:
            window["lt"] = request.end_ms
        if window:
            query = {"bool": {"filter": [query, {"range": {"@timestamp": {**window, "format": "epoch_millis"}}}]}}
        after = decode_cursor(request.cursor, request.newest_first) if request.cursor else None
        result = self._hits(request, query, after)
        if request.facets or request.histogram_ms:
            self._aggregations(request, query, result)
        return result

    def _hits(self, request: SearchRequest, query: dict, after) -> SearchResult:
        if request.size <= 0 and request.total_bound <= 0:   # only facets or a histogram: no hits request
            return SearchResult(hits=[], total=0, total_exact=False)
        order = "desc" if request.newest_first else "asc"
        body: dict = {"query": query, "size": max(request.size, 0) + (1 if request.size > 0 else 0),
                      "sort": [{"@timestamp": order}, {"event.id": order}],
                      # OpenSearch counts up to a 32-bit bound; beyond it the total is "at least"
                      "track_total_hits": min(request.total_bound, 2**31 - 1) if request.total_bound > 0 else False}
        pit = None
        if after:
            body["search_after"] = [after[0], after[1]]
            pit = after[2] or self._open_pit()   # deep paging reads one snapshot from page 2 on
        response = self._search_paging(body, pit)
        if response is None:   # the snapshot expired: go on from the cursor without one
            pit = None
            response = self._search_paging(body, None)
        hits = response["hits"]["hits"]
        total_info = response["hits"].get("total") or {}
        total = total_info.get("value", 0) if request.total_bound > 0 else 0
        exact = request.total_bound > 0 and total_info.get("relation") == "eq"
        next_cursor = None
        if request.size > 0 and len(hits) > request.size:
            hits = hits[:request.size]
            ts, eid = hits[-1]["sort"][:2]
            next_cursor = encode_cursor(ts, eid, request.newest_first, pit)
        elif pit:
            self._close_pit(pit)
        if request.total_bound > 0 and total > request.total_bound:
            total, exact = request.total_bound, False
        return SearchResult(hits=[h["_source"] for h in hits], total=total, total_exact=exact,
                            next_cursor=next_cursor)

    def _search_paging(self, body: dict, pit: str | None) -> dict | None:
        try:
            if pit:
                return self._call(self.client.search, body={**body, "pit": {"id": pit, "keep_alive": PIT_KEEP_ALIVE}})
            return self._call(self.client.search, index=self.alias, body=body,
                              params={"ignore_unavailable": "true", "allow_no_indices": "true"})
        except (self._exc.NotFoundError, self._exc.RequestError) as exc:
            if pit:
                return None   # expired, closed or not a snapshot id at all
            if isinstance(exc, self._exc.NotFoundError):
                raise
            raise QueryError(f"the store refused this search: {_reason(exc)}") from None

    def _open_pit(self) -> str | None:
        try:
            return self.client.create_pit(index=self.alias, params={"keep_alive": PIT_KEEP_ALIVE})["pit_id"]
        except self._exc.TransportError:
            return None   # no snapshot (e.g. no index yet): search_after alone still never repeats

    def _close_pit(self, pit: str) -> None:
        try:
            self.client.delete_pit(body={"pit_id": [pit]})
        except self._exc.TransportError:
            pass   # it expires on its own

    def _aggregations(self, request: SearchRequest, query: dict, result: SearchResult) -> None:
        aggs: dict = {}
        for i, name in enumerate(request.facets):
            aggs[f"f{i}"] = {"terms": {"field": self._facet_field(name), "size": request.facet_size,
                                       "shard_size": max(request.facet_size * 5, 100),
                                       "order": [{"_count": "desc"}, {"_key": "asc"}]}}
        if request.histogram_ms:
            aggs["histogram"] = {"date_histogram": {"field": "@timestamp", "fixed_interval": f"{request.histogram_ms}ms",
                                                    "min_doc_count": 1}}
        timed_out = request.budget_ms <= 0
        buckets: dict = {}
        if not timed_out:
            try:
                response = self._call(self.client.search, index=self.alias, body={
                    "query": query, "size": 0, "track_total_hits": False, "aggs": aggs,
                    "timeout": f"{request.budget_ms}ms"},
                    params={"ignore_unavailable": "true", "allow_no_indices": "true"})
            except self._exc.RequestError as exc:
                raise QueryError(f"the store refused these facets: {_reason(exc)}") from None
            timed_out = bool(response.get("timed_out"))
            buckets = response.get("aggregations") or {}
        for i, name in enumerate(request.facets):
            agg = buckets.get(f"f{i}", {})
            values = [FacetValue(b.get("key_as_string", b["key"]) if resolve(name).type != "date" else b["key"],
                                 b["doc_count"]) for b in agg.get("buckets", [])]
            result.facets[name] = Facet(values, approximate=agg.get("doc_count_error_upper_bound", 0) > 0,
                                        timed_out=timed_out)
        if request.histogram_ms:
            counts = {b["key"]: b["doc_count"] for b in buckets.get("histogram", {}).get("buckets", [])}
            result.histogram = histogram_buckets(counts, request)
            result.histogram_timed_out = timed_out

    @staticmethod
    def _facet_field(name: str) -> str:
        info = resolve(name)
        if info.type in ("text", "labels", "changes", "namespace") or name.startswith("labels."):
            raise QueryError(f"{name} cannot be a facet on this store: choose a keyword, number or date field",
                             field=name)
        return info.name


def _reason(exc) -> str:
    info = exc.info if isinstance(exc.info, dict) else {}
    causes = (info.get("error") or {}).get("root_cause") or [{}]
    return causes[0].get("reason") or str(exc.error)
