"""Turn one untrusted input object into a stored event, or reject it with a clear reason.

Two ways through, with the same result (a property test holds them to it):
- the full passes: shape and limits (depth, field count, key sizes, control characters) with
  redaction, copying -> known fields checked and normalised per schema.yaml (convert.py);
- the fast path, for a raw JSON line that provably needs no redaction and no key rewriting:
  one walk that checks the parsed object in place.
Then timestamp, id, classification and an error's fingerprint. Nothing here touches storage; `Normalizer.normalize`
is pure apart from the id it generates.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import orjson

from . import native_fast, refusals
from .classify import Classifier
from .convert import _LEVEL_ALIASES, MAX_KEYWORD_CHARS, Converter, EventError, Leaf, field_tree, format_ts, type_name
from .dotted import _blocked, _flat, _merge, _put_dotted
from .fingerprint_rules import Fingerprinter
from .ids import EVENT_ID, new_id
from .lines import keys_unique, unescaped
from .redact import Redactor
from .schema import Schema
from .shapes import TRIGGERS, Shaper

__all__ = ["EventError", "Normalizer", "format_ts"]

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
MAX_KEY_CHARS = 256
_REFUSED = object()
_INT64 = 2**63


class Normalizer:
    def __init__(
        self,
        schema: Schema,
        classifier: Classifier,
        redactor: Redactor,
        *,
        max_fields: int = 500,
        max_depth: int = 8,
        future_tolerance_ms: int = 86_400_000,
        fingerprinter: Fingerprinter | None = None,
    ):
        self.schema = schema
        # error.fingerprint on every error (app/events/fingerprint.py; custom rules: fingerprints.yaml)
        self.fingerprinter = fingerprinter or Fingerprinter.from_file(fields=schema.fields)
        self.classifier = classifier
        self.redactor = redactor
        self.max_fields = max_fields
        self.max_depth = max_depth
        self.future_tolerance_ms = future_tolerance_ms
        self._tree = field_tree(schema)
        self._types = {name: f.type for name, f in schema.fields.items()}
        self.converter = Converter()
        self._last_ingested = (-1, "")
        self._good_keys: set[str] = set()
        # lines with simple escapes may take the fast path unless a rule could see them differently
        self._escapes_ok = not redactor.unguarded and not any(b'"' in n for n in redactor.needles)
        # tolerant shapes (shapes.py): records shippers send, rewritten in the full passes
        self.shaper = Shaper(
            schema.fields["log.level"].enum or (),
            set(_LEVEL_ALIASES),
            set(schema.types),
            {f.path[0] for f in schema.fields.values() if len(f.path) > 1},
            self._time_or_none,
            lambda text: redactor.scrub(text)[0],
        )
        self._native = native_fast.build(self)  # the fast path's decision in Rust, or None

    # -- the whole event ---------------------------------------------------------------

    def normalize(
        self,
        raw: Any,
        ingested_ms: int,
        raw_line: bytes | None = None,
        duplicates: Callable[[bytes, Any], None] | None = None,
    ) -> dict:
        """The stored form of `raw`, or EventError. `raw_line`, the JSON text `raw` was parsed
        from, enables the fast path: a line that provably needs no redaction, no dotted-key
        expansion and is within the limits is checked without being copied.

        `duplicates(raw_line, raw)` (app.ingest.items.refuse_duplicates), when given, raises the
        error for a key repeated in `raw_line`; it is called before anything here can refuse the
        item, and its error is passed on as it is. The fast path skips it when the keys it counted
        prove that no key was repeated (it saves a re-serialisation of every event)."""
        try:
            try:
                return self._normalize(raw, ingested_ms, raw_line, duplicates)
            except _FullPasses:  # from the line again: the fast path changed `raw` in place
                assert raw_line is not None  # the fast path ran: it needs the line
                return self._normalize(orjson.loads(raw_line), ingested_ms, None, None)
        except _AsIs as wrapped:
            raise wrapped.error from None
        except EventError as exc:  # a reason quoting a value must not echo a card or a secret
            exc.reason = self.redactor.scrub(exc.reason)[0]
            if exc.field:
                exc.field = self.redactor.scrub(exc.field)[0]
            exc.args = (exc.reason,)
            raise

    def _normalize(self, raw: Any, ingested_ms: int, raw_line: bytes | None, duplicates) -> dict:
        # Rust (native_fast.py): the fast path's columns, no key repeated; None: Python decides
        columns = (
            None
            if raw_line is None or self._native is None
            else self._native(raw, raw_line, self._good_keys, self._judge_key)
        )
        native = columns is not None
        if columns is None:
            columns = {}
        count = [0, 0]  # fields and array items, keys (of every object)
        fast = native or (
            raw_line is not None
            and type(raw) is dict
            and b"\x7f" not in raw_line
            and (raw.keys().isdisjoint(TRIGGERS) or not self.shaper.wants(raw, ingested_ms))
            and (text := raw_line if b"\\" not in raw_line else unescaped(raw_line, self._escapes_ok)) is not None
            and not self.redactor.may_touch(text)
            and self._fast(raw, self._tree, 1, count, columns)
            and not ("changes" in raw and self._secret_changes(raw["changes"], count_only=True))
        )
        if duplicates is not None and not (native or (fast and raw_line is not None and keys_unique(raw_line, count[1]))):
            try:
                duplicates(raw_line, raw)
            except EventError as exc:
                raise _AsIs(exc) from None
        if not isinstance(raw, dict):
            raise EventError(f"expected a JSON object, got {type_name(raw)}", kind=refusals.BAD_JSON)
        state = [0, 0, 0, 0]  # fields seen, values redacted, numbers of numeric fields cut, keys renamed
        if fast:
            event = raw  # `text` is exactly the decoded strings, and nothing needed changing
        else:
            columns.clear()
            event = self._walk(raw, 1, "", state)
            if "changes" in event:
                state[1] += self._secret_changes(event["changes"])
            self.shaper.reshape(event, ingested_ms)
            self._check_known(event, self._tree, "", columns)
            if state[2] or state[3]:
                tags = event.get("tags")
                event["tags"] = (
                    (tags if isinstance(tags, list) else [])
                    + (["number_redacted"] if state[2] else [])
                    + (["dotted_key_renamed"] if state[3] else [])
                )

        meta = event.get("event")
        if meta is None:
            meta = event["event"] = {}
        elif not isinstance(meta, dict):
            raise EventError("expected an object", "event")

        ts = event.get("@timestamp")
        if ts is None:
            ts_ms = ingested_ms
            event["@timestamp"] = self._ingested_iso(ingested_ms)
            tags = event.get("tags")
            event["tags"] = (tags if isinstance(tags, list) else []) + ["timestamp_assigned"]
        else:
            ts_ms, event["@timestamp"] = self.converter.parse_timestamp(ts, "@timestamp", ingested_ms)
            if ts_ms > ingested_ms + self.future_tolerance_ms:
                raise EventError(
                    f"@timestamp {event['@timestamp']} is more than {self.future_tolerance_ms // 3_600_000} h in the future",
                    "@timestamp",
                    refusals.TIME,
                )

        event_id = meta.get("id")
        if event_id is None:
            meta["id"] = new_id(ingested_ms)
        elif not EVENT_ID.match(event_id):
            raise EventError(
                "event.id must be 1-128 characters of letters, digits and ._:@/+=-, starting with a letter or digit",
                "event.id",
            )
        meta["ingested"] = self._ingested_iso(ingested_ms)

        component, type_, classified_by = self.classifier.classify(event)
        if component not in self.schema.components:
            raise EventError(
                f"unknown event.component {component!r}; expected one of " + ", ".join(self.schema.components),
                "event.component",
            )
        if type_ not in self.schema.types:
            if fast and type(type_) is str:  # an ECS event.type word (rare): the full passes move it
                raise _FullPasses
            raise EventError(f"unknown event.type {type_!r}; expected one of " + ", ".join(self.schema.types), "event.type")
        meta["component"], meta["type"], meta["classified_by"] = component, type_, classified_by
        if state[1]:
            meta["redacted"] = state[1]
        columns["component"], columns["type"] = component, type_
        self.fingerprinter.stamp(event)
        # private keys for the store (see app/storage/base.py), never stored
        event["_ts"] = ts_ms
        event["_columns"] = columns
        if event_id is not None:
            event["_client_id"] = True
        return event

    def _time_or_none(self, value: Any, now_ms: int) -> str | None:
        """A time key's value as a canonical @timestamp, or None when it is no time (or too far ahead)."""
        try:
            ms, iso = self.converter.parse_timestamp(value, "@timestamp", now_ms)
        except EventError:
            return None
        return iso if ms <= now_ms + self.future_tolerance_ms else None

    def _ingested_iso(self, ms: int) -> str:
        if ms != self._last_ingested[0]:
            self._last_ingested = (ms, format_ts(ms))
        return self._last_ingested[1]

    def _fast(self, node: dict, tree: dict | None, depth: int, count: list, columns: dict) -> bool:
        """Both passes in one walk, without copying, for an event whose JSON line has no escapes
        (or only simple ones, see lines.unescaped) and nothing redaction could touch. False means
        "take the full passes" (a dotted, secret, empty or over-long key, a limit reached, a type
        problem to report with its path); the values converted so far are canonical, so the full
        passes can run over them again."""
        if depth > self.max_depth:
            return False
        size = len(node)
        count[0] += size
        count[1] += size
        if count[0] > self.max_fields:
            return False
        good = self._good_keys
        if not node.keys() <= good:  # one C-level check for the keys seen before
            for key in node:
                if key not in good and not self._judge_key(key):
                    return False
        if tree is None:  # not a schema namespace: only containers and huge floats matter
            for value in node.values():
                kind = type(value)
                if kind is dict:
                    if not self._fast(value, None, depth + 1, count, columns):
                        return False
                elif kind is list:
                    if not self._fast_list(value, depth, count, columns):
                        return False
                elif kind is float and not -1e12 < value < 1e12:
                    return False  # could be a card number written with an exponent (4.2e15)
            return True
        for key, value in node.items():
            spec = tree.get(key)
            kind = type(value)
            if spec is None:  # a field the schema does not know, as above
                if kind is dict:
                    if not self._fast(value, None, depth + 1, count, columns):
                        return False
                elif kind is list:
                    if not self._fast_list(value, depth, count, columns):
                        return False
                elif kind is float and not -1e12 < value < 1e12:
                    return False
                continue
            if value is None:
                continue
            if type(spec) is dict:  # a namespace
                if kind is not dict:
                    return False  # given a scalar: the full pass reports it with its path
                if not self._fast(value, spec, depth + 1, count, columns):
                    return False
                continue
            if kind is str:  # the common cases first, without a call
                if spec.plain:
                    if len(value) > MAX_KEYWORD_CHARS:  # a keyword is refused, a text kept
                        value = self._convert(node, key, spec, value)
                        if value is _REFUSED:
                            return False
                elif value not in spec.allowed and not spec.accepts(value):
                    value = self._convert(node, key, spec, value)
                    if value is _REFUSED:
                        return False
            elif kind is int and spec.numeric and -_INT64 <= value < _INT64:
                pass
            else:
                if kind is dict:
                    if not self._fast(value, None, depth + 1, count, columns):
                        return False
                elif kind is list:
                    if not self._fast_list(value, depth, count, columns):
                        return False
                elif kind is float and not -1e12 < value < 1e12:
                    return False
                if not spec.accepts(value):
                    value = self._convert(node, key, spec, value)
                    if value is _REFUSED:
                        return False
            if spec.column:
                columns[spec.column] = value
        return True

    def _convert(self, node: dict, key: str, spec: Leaf, value: Any) -> Any:
        """The canonical value, stored in place; _REFUSED when it cannot be converted: the full
        passes then give the reason, so the refusal is the one they give (an earlier field may
        be refused first, for another reason)."""
        try:
            node[key] = value = self.converter.convert(spec.field, value)
        except EventError:
            return _REFUSED
        return value

    def _fast_list(self, value: list, depth: int, count: list, columns: dict) -> bool:
        count[0] += len(value)
        if count[0] > self.max_fields or depth + 1 > self.max_depth:
            return False
        for item in value:
            kind = type(item)
            if kind is list or (kind is dict and not self._fast(item, None, depth + 1, count, columns)):
                return False
            if kind is float and not -1e12 < item < 1e12:
                return False
        return True

    def _judge_key(self, key: str) -> bool:
        """Whether a key can stay as it is; good keys are remembered (the same few hundred recur)."""
        ok = (
            bool(key)
            and len(key) <= MAX_KEY_CHARS
            and ("." not in key or key == "@timestamp")
            and not _CONTROL.search(key)
            and not self.redactor.drops(key)
        )
        if ok:
            if len(self._good_keys) > 50_000:  # bounded: hostile clients can invent keys
                self._good_keys.clear()
            self._good_keys.add(key)
        return ok

    # -- pass 1: shape, limits, redaction ----------------------------------------------

    def _walk(self, obj: dict, depth: int, path: str, state: list) -> dict:
        if depth > self.max_depth:
            raise EventError(f"nested deeper than {self.max_depth} levels", path.rstrip(".") or None, refusals.LIMITS)
        out: dict = {}
        for key, value in obj.items():
            state[0] += 1
            if state[0] > self.max_fields:
                raise EventError(f"more than {self.max_fields} fields", kind=refusals.LIMITS)
            if not key or len(key) > MAX_KEY_CHARS or _CONTROL.search(key):
                key = self.redactor.scrub(key)[0]
                raise EventError(
                    f"invalid field name {key[:40]!r} (empty, over {MAX_KEY_CHARS} characters "
                    "or containing control characters)",
                    path.rstrip(".") or None,
                )
            name = key.rsplit(".", 1)[-1]
            if self.redactor.drops(name) and not _flag(value):
                state[1] += 1
                continue
            key, count = self.redactor.scrub(key)  # a card number used as a key is still one
            state[1] += count
            value = self._value(value, depth, path + key, state)
            if "." in key and key != "@timestamp":
                parts = key.split(".")
                if _blocked(out, parts):  # `app` is a value and `app.kubernetes.io/name` a key too
                    key = "_".join(parts)
                    state[3] += 1
                    if key in out:
                        raise EventError("given twice (dotted and with _)", path + key)
                    out[key] = value
                else:
                    _put_dotted(out, parts, value, path)
            elif key in out and isinstance(out[key], dict) and isinstance(value, dict):
                _merge(out[key], value, path + key)
            elif key in out and isinstance(out[key], dict):  # the same, the other way round
                for name, leaf in _flat(out.pop(key), key):
                    if name in out:
                        raise EventError("given twice (dotted and with _)", path + name)
                    out[name] = leaf
                    state[3] += 1
                out[key] = value
            else:
                out[key] = value
        return out

    def _value(self, value: Any, depth: int, path: str, state: list) -> Any:
        kind = type(value)
        if kind is str:
            if _CONTROL.search(value):
                found = _CONTROL.search(value)  # again, on the refusal only: the check above stays one call
                assert found is not None
                pos = found.start()
                raise EventError(
                    f"control character U+{ord(value[pos]):04X} at position {pos} "
                    "(only tab, newline and carriage return are allowed)",
                    path,
                )
            new, count = self.redactor.scrub(value)
            state[1] += count
            return new
        if kind is dict:
            return self._walk(value, depth + 1, path + ".", state)
        if kind is list:
            if depth + 1 > self.max_depth:
                raise EventError(f"nested deeper than {self.max_depth} levels", path, refusals.LIMITS)
            state[0] += len(value)
            if state[0] > self.max_fields:
                raise EventError(f"more than {self.max_fields} fields (array {path} is too long)", path, refusals.LIMITS)
            return [self._value(item, depth + 1, path, state) for item in value]
        if (kind is int or kind is float) and not -1e12 < value < 1e12:
            if kind is float and not math.isfinite(value):
                raise EventError("NaN and infinite numbers are not allowed", path)
            field_type = self._types.get(path)
            if field_type in ("long", "double"):  # cannot hold a string: cut, counted and tagged
                cut = self.redactor.blunt_number(value)
                if cut is not None:
                    state[1] += 1
                    state[2] += 1
                    return cut
            elif field_type != "date":  # dates become ISO text; anything else would be the digits
                masked = self.redactor.scrub_number(value)
                if masked is not None:
                    state[1] += 1
                    return masked
        return value

    def _secret_changes(self, changes: Any, count_only: bool = False) -> int:
        """`changes` items whose `field` names a secret (user.password) lose their old and new
        values; how many values that was."""
        count = 0
        for item in changes if isinstance(changes, list) else [changes]:
            name = item.get("field") if isinstance(item, dict) else None
            if isinstance(name, str) and self.redactor.drops(name.rsplit(".", 1)[-1]):
                for side in ("old", "new"):
                    if side in item and not _flag(item[side]):
                        count += 1
                        if not count_only:
                            del item[side]
        return count

    # -- pass 2: known fields ----------------------------------------------------------

    def _check_known(self, node: dict, tree: dict, prefix: str, columns: dict) -> None:
        for key, value in node.items():
            spec = tree.get(key)
            if spec is None or value is None:
                continue
            if type(spec) is Leaf:
                if not spec.accepts(value):
                    node[key] = value = self.converter.convert(spec.field, value)
                if spec.column:
                    columns[spec.column] = value
            elif isinstance(value, dict):
                self._check_known(value, spec, prefix + key + ".", columns)
            else:
                raise EventError(f"expected an object, got {type_name(value)}", prefix + key)


class _FullPasses(Exception):
    """The fast path met what only the full passes rewrite (an ECS event.type word)."""


class _AsIs(Exception):
    """Carries an error of the `duplicates` check past the scrubbing of normalize's own."""

    def __init__(self, error: EventError):
        super().__init__(error)
        self.error = error


def _flag(value: Any) -> bool:
    """A boolean or null carries no secret, whatever its name (`must_change_password: true`)."""
    return value is None or type(value) is bool
