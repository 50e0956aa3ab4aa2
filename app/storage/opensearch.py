"""The OpenSearch backend: the same LogStore protocol as the embedded store, on a cluster.

Layout (opensearch_layout.py): per log component, generations `<prefix>-<component>-gYYYYMMDDtHHMM`
rolled over by size and age (opensearch_rollover.py), each holding a span of *event* time, so an
event's index follows from its @timestamp: a client's event.id is deduplicated by creating the
document under that id in that index, a backfill lands in the generation of its time, and
retention drops generations (and trims the boundary one) by event time. Indices of the old
daily layout (`<prefix>-<component>-YYYY.MM.DD`) stay readable and still take the events of
their days; none is created any more. Every index carries the read alias `<prefix>-events`,
which searches use (opensearch_search.py); partitions and retention: opensearch_partitions.py.
Per-minute rollups of the stored events: `<prefix>-rollups`, outside that alias
(opensearch_rollups.py); `rollups=False` (URL `?rollups=off`): none kept.

Writes are `_bulk` requests split by count and bytes, retried with backoff on 429 and on
connection errors; every item's outcome is reported by position like the embedded store does.
A search first refreshes the indices this process wrote to since its last search, so a writer
reads its own writes at once (other processes see them within the refresh interval, 1 s).
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Sequence
from urllib.parse import parse_qs, unquote, urlsplit

import orjson

from ..events.schema import load_schema
from ..query.searchable import searchable
from ..rollups.model import reduce_pairs
from . import opensearch_partitions as parts, opensearch_templates as templates
from .base import Partition, StoreError, WriteResult
from .opensearch_layout import IndexLayout
from .opensearch_rollover import Bounds, Rollover, parse_age
from .opensearch_search import (  # noqa: F401
    PIT_KEEP_ALIVE,
    RETRY_STATUSES,
    SEARCH_PARAMS,
    SearchMixin,
    decode_cursor,
    encode_cursor,
    source,
)
from .partitioning import DEFAULT_DAY_PARTITION_DAYS

DAY_MS = 86_400_000


class OpenSearchStore(SearchMixin):
    def __init__(
        self,
        client,
        prefix: str = "platlogs",
        max_bulk_docs: int = 5000,
        max_bulk_bytes: int = 8 << 20,
        retries: int = 5,
        backoff_s: float = 0.2,
        install: bool = True,
        day_partition_days: int = DEFAULT_DAY_PARTITION_DAYS,
        rollover: dict | None = None,
        rollups: bool = True,
    ):
        """`rollover`: overrides of every component's bounds (`max_age`, `max_size`, `max_docs`) and
        `margin` (how far after its making a new generation begins, default 1h) and `check`
        (how often a writer looks at the generations' sizes, default 60s)."""
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
        self._dirty: set[str] = set()
        self._dirty_lock = threading.Lock()
        self.has_ism = False
        self.day_partition_days = int(day_partition_days)
        rollover = dict(rollover or {})
        margin_ms = parse_age(rollover.pop("margin", "1h"))
        check_ms = parse_age(rollover.pop("check", "60s"))
        meta = templates.rollover_meta()
        self.rollover = Rollover(
            client,
            prefix,
            self.components,
            {c: Bounds.from_meta(meta[c], rollover) for c in self.components},
            margin_ms,
            exceptions,
            template_version=templates.template_version() if install else None,
        )
        self.layout = IndexLayout(
            prefix,
            self.components,
            self._index_rows,
            self.rollover.bootstrap,
            self.rollover.maintain,
            margin_ms=margin_ms,
            check_ms=check_ms,
        )
        if install:
            self.install_templates()
        from .opensearch_rollups import OpenSearchRollups

        self.rollups = OpenSearchRollups(self) if rollups else None

    @classmethod
    def from_url(
        cls,
        url: str,
        username: str | None = None,
        password: str | None = None,
        ca_file=None,
        verify_tls: bool = True,
        **options,
    ) -> OpenSearchStore:
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
        if "rollups" in query:
            options["rollups"] = query["rollups"][0] not in ("off", "0", "false")
        rollover = {key.removeprefix("rollover_"): values[0] for key, values in query.items() if key.startswith("rollover_")}
        if rollover:
            options["rollover"] = {**rollover, **options.get("rollover", {})}
        if not re.fullmatch(r"[a-z][a-z0-9_]*", prefix):
            raise ValueError(f"store prefix {prefix!r}: lower-case letters, digits and _ only")
        client = OpenSearch(
            hosts=[{"host": parts.hostname or "localhost", "port": parts.port or 9200}],
            http_auth=(username, password) if username else None,
            use_ssl=use_tls,
            verify_certs=use_tls and verify_tls,
            ssl_show_warn=False,
            ca_certs=str(ca_file) if ca_file else None,
            timeout=30,
            http_compress=False,
        )
        from opensearchpy import exceptions

        where = f"OpenSearch at {parts.hostname}:{parts.port or 9200}"
        try:
            return cls(client, prefix=prefix, **options)
        except (exceptions.AuthenticationException, exceptions.AuthorizationException) as exc:
            raise StoreError(
                f"{where} refused the credentials (PLATLOGS_STORE_USERNAME / _PASSWORD): {exc.status_code}"
            ) from None
        except exceptions.SSLError as exc:
            raise StoreError(f"{where}: its TLS certificate is not trusted (set PLATLOGS_STORE_CA_FILE): {exc}") from None
        except cls._connection_errors() as exc:
            raise StoreError(f"{where} is unreachable: {exc}") from exc

    @staticmethod
    def _connection_errors():
        from opensearchpy import exceptions

        return (exceptions.ConnectionError, exceptions.ConnectionTimeout)

    # -- templates ----------------------------------------------------------------------

    def install_templates(self) -> None:
        """The templates and (where the cluster has Index State Management) the retention policies,
        each only when missing or older than the version in index_templates/."""
        self.has_ism = templates.install(self.client, self.prefix, self.alias, self._exc)

    # -- writes -------------------------------------------------------------------------

    def _document(self, event: dict) -> tuple[str, int, str, bool, bytes]:
        event.pop("_columns", None)
        ts = event.pop("_ts")
        client_id = bool(event.pop("_client_id", False))
        event_id = event["event"]["id"]
        found = searchable(event, identifiers=False)  # a bare term looks in their `.fold` subfields
        # index-only (excluded from _source); a client's own top-level field of that name is replaced
        doc = orjson.dumps(
            {
                **event,
                templates.SEARCH: {
                    "keys": found.keys,
                    "words": found.words,
                    "personal_keys": found.personal_keys,
                    "personal_words": found.personal_words,
                },
            }
        )
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
        if not documents:
            return result
        try:
            indices = self.layout.indices([(component, ts) for _, component, ts, *_ in documents])
        except (self._exc.ConnectionError, self._exc.ConnectionTimeout, self._exc.TransportError, RuntimeError) as exc:
            result.failed.extend((pos, f"storage unreachable, not stored: {exc}") for pos, *_ in documents)
            return result
        chunk: list[tuple[int, bytes, bool]] = []
        size = 0
        stored: list[int] = []
        for (pos, _, _, event_id, client_id, doc), index in zip(documents, indices, strict=True):
            line = orjson.dumps({"create": {"_index": index, "_id": event_id}}) + b"\n" + doc + b"\n"
            if chunk and (len(chunk) >= self.max_bulk_docs or size + len(line) > self.max_bulk_bytes):
                self._send(chunk, result, stored)
                chunk, size = [], 0
            chunk.append((pos, line, client_id))
            size += len(line)
        if chunk:
            self._send(chunk, result, stored)
        if self.rollups and stored:  # the events this call stored, not duplicates nor refusals
            times = {pos: ts for pos, _, ts, *_ in documents}
            self.rollups.add(reduce_pairs((times[pos], events[pos]) for pos in stored))
        result.failed.sort()
        result.refused.sort()
        return result

    def _send(self, chunk: list[tuple[int, bytes, bool]], result: WriteResult, stored: list[int]) -> None:
        """One bulk request; items refused with 429 and whole requests that fail to connect or
        are throttled are sent again after a growing pause. Creating under the event's id makes
        a repeated item harmless: on a retry, "exists already" means our first attempt stored it."""
        pending = chunk
        for attempt in range(self.retries + 1):
            retry_items: list[tuple[int, bytes, bool]] = []
            try:
                response = self.client.bulk(
                    body=b"".join(line for _, line, _ in pending),
                    params={"filter_path": "errors,items.*.status,items.*.error.type,items.*.error.reason,items.*._index"},
                )
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
                for (pos, line, client_id), item in zip(pending, items, strict=False):
                    outcome = next(iter(item.values()))
                    status = outcome.get("status", 500)
                    if status in (200, 201):
                        result.stored += 1
                        stored.append(pos)
                        with self._dirty_lock:
                            self._dirty.add(outcome.get("_index", self.alias))
                    elif status == 409:
                        if client_id or attempt == 0:
                            result.duplicates.append(pos)
                        else:
                            result.stored += 1
                            stored.append(pos)
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
                time.sleep(self.backoff_s * 2**attempt)
        for pos, _, _ in pending:
            result.failed.append((pos, reason))
        result.duplicates.sort()

    def _refresh(self) -> None:
        """Make this process's own writes searchable before it searches."""
        with self._dirty_lock:
            dirty, self._dirty = self._dirty, set()
        if dirty:  # by name when few (a URL line is at most 4 KB), else every index behind the alias
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
        # a filter (no scoring) and no count: the one document under its id is all that is needed
        body = {
            "query": {"bool": {"filter": [{"term": {"event.id": event_id}}]}},
            "size": 1,
            "track_total_hits": False,
            "sort": [{"@timestamp": "desc"}, {"event.id": "desc"}],
        }
        hits = self._call(self.client.search, index=self.alias, body=body, params=SEARCH_PARAMS)["hits"]["hits"]
        if not hits:  # perhaps written by another process in the last second: make it visible
            self._call(self.client.indices.refresh, index=self.alias, params=SEARCH_PARAMS)
            hits = self._call(self.client.search, index=self.alias, body=body, params=SEARCH_PARAMS)["hits"]["hits"]
        if not hits:
            return None
        ts, eid = hits[0]["sort"]
        return source(hits[0]), encode_cursor(ts, eid, False), encode_cursor(ts, eid, True)

    def count(self) -> int:
        self._refresh()
        return self._call(self.client.count, index=self.alias, params=SEARCH_PARAMS)["count"]

    def _index_rows(self) -> list[dict]:
        """The cluster's rows for our indices (name, documents, primary bytes, creation, status)."""
        return self.client.cat.indices(
            index=f"{self.prefix}-*",
            params={
                "format": "json",
                "bytes": "b",
                "expand_wildcards": "all",
                "h": "index,docs.count,pri.store.size,creation.date,status",
            },
        )

    def partitions(self) -> list[Partition]:
        self._refresh()
        rows = self._call(self._index_rows)
        found = parts.pieces(self, rows, time.time_ns() // 1_000_000)
        return sorted((p.partition for p in found), key=lambda p: (p.start_ms, p.name))

    def drop_partitions_before(self, cutoff_ms: int) -> list[str]:
        return self._drop(dict.fromkeys(self.components, cutoff_ms))

    def drop_expired(self, now_ms: int, days: dict[str, int] | None = None) -> list[str]:
        """The app's own retention, for clusters without Index State Management (and to trim the
        boundary generation on those with it): each component's partitions older than its policy
        in index_templates/retention/."""
        days = days if days is not None else templates.retention_days()
        return self._drop({c: now_ms - n * DAY_MS for c, n in days.items() if c in self.components})

    def _drop(self, cutoffs: dict[str, int]) -> list[str]:
        self._refresh()
        dropped = parts.drop(self, self._call(self._index_rows), time.time_ns() // 1_000_000, cutoffs)
        self.layout.forget()
        return dropped

    def _delete(self, names: list[str]) -> None:
        for start in range(0, len(names), 50):  # bounded URL length
            self._call(
                self.client.indices.delete, index=",".join(names[start : start + 50]), params={"ignore_unavailable": "true"}
            )
        if names:
            self.layout.forget()

    def close(self) -> None:
        # closing must not fail because the cluster went away
        with contextlib.suppress(Exception):
            self._refresh()  # a writer that ends (the CLI's ingest) leaves its writes searchable
        self.client.close()
