"""Rollover of the OpenSearch backend's generations (see opensearch_layout.py), by size and age.

Each component's newest generation is the write index of the alias `<prefix>-<component>-write`.
When it holds events and has reached one of its component's bounds (`_meta.rollover` of the
component's index template in index_templates/: `max_age`, `max_size`, optionally `max_docs`), the
app cuts it with the core `_rollover` API, naming the new generation after the event time T
where it begins: at least `margin_ms` after now and after the newest event the old one holds.

Why the app and the core API, not a data stream or ISM's rollover action: both cut by arrival
time and send every write to the newest index, so a backfill, a migration or a late callback
would land among today's events (and be deleted on today's schedule), and a re-sent client
event.id could no longer meet its first copy (documents are created under their id, so the
index must follow from the event). `_rollover` is in every OpenSearch (the test node has no ISM
plugin) and is atomic on the cluster: two processes that both see a full generation call it with
the same conditions, and the second finds a new, empty write index and rolls nothing. The
rollover also records its time in the old index, which ISM's `min_rollover_age` reads (the
generations' retention policies, opensearch_templates.py).

Checked on the write path, at most once a minute per process (`IndexLayout.check_ms`), and when
a write needs the list of generations read again.

A newer common template (new mappings: a version bump in index_templates/) applies to the next
generation; so that it does not wait for the bounds (up to 90 days), a newest generation made by
an older template (`_meta.template_version` of its mappings) is cut as soon as it holds an event,
once per component and process (its mappings are read once per generation).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

from .opensearch_layout import generation_name, parse_generation, write_alias

log = logging.getLogger(__name__)

_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_UNITS_B = {"b": 1, "kb": 1 << 10, "mb": 1 << 20, "gb": 1 << 30, "tb": 1 << 40}


def parse_age(text: str) -> int:
    """'5d', '12h', '90m', '30s' or '500ms' in milliseconds."""
    match = re.fullmatch(r"(\d+)(ms|s|m|h|d)", str(text).strip())
    if not match:
        raise ValueError(f"rollover age {text!r}: expected a number and ms, s, m, h or d (e.g. 5d)")
    return int(match[1]) * _UNITS_MS[match[2]]


def parse_size(text: str) -> int:
    """'30gb', '512mb', '100kb' or '1000b' in bytes."""
    match = re.fullmatch(r"(\d+)(b|kb|mb|gb|tb)", str(text).strip().lower())
    if not match:
        raise ValueError(f"rollover size {text!r}: expected a number and b, kb, mb, gb or tb (e.g. 30gb)")
    return int(match[1]) * _UNITS_B[match[2]]


@dataclass(frozen=True)
class Bounds:
    """When a component's newest generation is cut (any one reached, and it holds an event)."""

    max_age_ms: int
    max_bytes: int
    max_docs: int | None = None

    @classmethod
    def from_meta(cls, meta: dict, overrides: dict | None = None) -> Bounds:
        spec = {**meta, **(overrides or {})}
        docs = spec.get("max_docs")
        return cls(parse_age(spec["max_age"]), parse_size(spec["max_size"]), int(docs) if docs else None)

    def reached(self, docs: int, size: int, age_ms: int) -> dict | None:
        """The `_rollover` conditions reached (the node checks them again, atomically), or None."""
        if docs <= 0:
            return None  # an empty generation is never cut: an idle component keeps one index
        reached: dict[str, str | int] = {}
        if age_ms >= self.max_age_ms:
            reached["max_age"] = f"{self.max_age_ms}ms"
        if size >= self.max_bytes:
            reached["max_size"] = f"{self.max_bytes}b"
        if self.max_docs is not None and docs >= self.max_docs:
            reached["max_docs"] = self.max_docs
        return reached or None


class Rollover:
    def __init__(
        self,
        client,
        prefix: str,
        components: Sequence[str],
        bounds: dict[str, Bounds],
        margin_ms: int,
        exceptions,
        template_version: int | None = None,
    ):
        """`template_version`: the common template's version installed on the cluster (None: not
        known, no generation is cut for being older)."""
        self.client = client
        self.prefix = prefix
        self.components = tuple(components)
        self.bounds = bounds
        self.margin_ms = margin_ms
        self._exc = exceptions
        self.template_version = template_version
        self._versions: dict[str, int] = {}  # generation -> the template version that made it
        self._upgraded: set[str] = set()  # components cut once for an older template

    @staticmethod
    def _now() -> int:
        return time.time_ns() // 1_000_000

    def bootstrap(self, component: str) -> None:
        """A component's first generation, holding the write alias. Another process creating one
        at the same moment wins; this one then finds it when the list is read again."""
        name = generation_name(self.prefix, component, self._now())
        try:
            self.client.indices.create(
                index=name, body={"aliases": {write_alias(self.prefix, component): {"is_write_index": True}}}
            )
        except self._exc.TransportError as exc:
            if exc.status_code not in (400, 500):  # exists already / the alias has its write index
                raise
            log.info("first generation of %s: %s (made elsewhere)", component, exc.error)

    def maintain(self, rows: list[dict]) -> bool:
        """Cut every newest generation that reached its bounds; True when one was cut."""
        newest: dict[str, tuple[int, dict]] = {}
        for row in rows:
            gen = parse_generation(self.prefix, row["index"], self.components)
            if gen and (gen[0] not in newest or gen[1] > newest[gen[0]][0]):
                newest[gen[0]] = (gen[1], row)
        now = self._now()
        changed = False
        for component, (start, row) in sorted(newest.items()):
            created = int(row.get("creation.date") or now)
            docs = int(row.get("docs.count") or 0)
            conditions = self.bounds[component].reached(docs, int(row.get("pri.store.size") or 0), now - created)
            if not conditions and docs > 0 and self._outdated(component, row["index"]):
                self._upgraded.add(component)
                conditions = {"max_docs": 1}  # (checked again by the node: a second process cuts nothing)
                log.info("%s was made by an older index template: cut for the new mappings", row["index"])
            if conditions:
                changed |= self.cut(component, row["index"], start, conditions)
        return changed

    def _outdated(self, component: str, index: str) -> bool:
        """Whether a generation was made by an older common template than the installed one."""
        if self.template_version is None or component in self._upgraded:
            return False
        if index not in self._versions:
            found = self.client.indices.get_mapping(index=index, params={"filter_path": "*.mappings._meta"})
            first: dict = next(iter(found.values()), {})
            meta = (first.get("mappings") or {}).get("_meta") or {}
            version = meta.get("template_version")
            self._versions[index] = version if isinstance(version, int) else 0
        return self._versions[index] < self.template_version

    def cut(self, component: str, index: str, start: int, conditions: dict) -> bool:
        now = self._now()
        newest_event = self._newest_event(index)
        begins = max(now + self.margin_ms, (newest_event if newest_event is not None else now) + 1, start + 60_000)
        new = generation_name(self.prefix, component, begins)
        alias = write_alias(self.prefix, component)
        for attempt in (1, 2):
            try:
                answer = self.client.indices.rollover(alias=alias, new_index=new, body={"conditions": conditions})
            except self._exc.TransportError as exc:
                if exc.status_code == 400 and "already_exists" in str(exc.error):
                    return True  # another process cut it to the same name
                if attempt == 1 and exc.status_code in (400, 404):
                    # the alias went away (its write index deleted by hand?): the newest takes it again
                    self.client.indices.put_alias(index=index, name=alias, body={"is_write_index": True})
                    continue
                log.warning("rollover of %s failed: %s", index, exc)
                return False
            if answer.get("rolled_over"):
                log.info("rolled %s over to %s (%s)", index, new, ", ".join(conditions))
            return bool(answer.get("rolled_over")) or answer.get("old_index") != index
        return False

    def _newest_event(self, index: str) -> int | None:
        body = {"size": 0, "track_total_hits": False, "aggs": {"newest": {"max": {"field": "@timestamp"}}}}
        value = self.client.search(index=index, body=body)["aggregations"]["newest"].get("value")
        return int(value) if value is not None else None
