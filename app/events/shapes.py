"""Tolerant shapes: records as shippers and logging libraries send them, rewritten into the
schema's places instead of refused (issue 15 item 4). Runs in the normaliser's full passes, on
the redacted copy, before the known fields are checked; `Shaper.wants` tells the fast path which
records to leave to the full passes.

What is rewritten (each only when the schema's own place is empty):
  `log: "text"`               message (when there is none; else kept as log.text)
  `host: "web-1"`             host.name          `hostname: "web-1"`  host.hostname
  `service: "api"`            service.name       `user: "bob"`        user.name
  `error: "timeout"`          error.message      (also process, container: name; url: full;
                              user_agent: original; actor, target, session, correlation, trace, span: id)
  another namespace given a string or number (`client: "ios"`, `event: "x"`): labels.<namespace>
  `pid: 42`                   process.pid
  `msg`, `@m`, `@mt`          message (pino, Bunyan, zap, logrus, slog, Serilog CLEF)
  `level`, `severity`, `@l`, `loglevel`, `levelname`, `lvl`          log.level
  `timestamp`, `time`, `date`, `ts`, `@t`, `datetime`, `@timestamp` absent:  @timestamp (a value that is
                              no time is left where it is; the server's time is used)
  `file` of a Vector record (`source_type` present)                   log.file.path
  ECS `event.type` as a list, or a word that is none of our types:    event.ecs_type
                              (event.type is Platform Logs' classification; it is then classified)
  Fluent Bit's kubernetes.pod_name, namespace_name, pod_id, host, container_name, and OTel's
  k8s.namespace.name, k8s.pod.name, k8s.pod.uid, k8s.node.name, k8s.container.name: copied to
  the kubernetes.* fields (the originals stay).
  A level word or number the schema's spellings do not cover (SEVERE, 3, 30): mapped by
  levels.yaml, the value as sent kept in log.original_level (unknown ones: only there).
When anything but a level or a kubernetes copy was rewritten, event.original holds the record as
it arrived — as JSON, after redaction, at most MAX_ORIGINAL characters — unless the sender set it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import yaml

LEVELS_FILE = Path(__file__).with_name("levels.yaml")
MAX_ORIGINAL = 8192
TIME_KEYS = ("timestamp", "time", "date", "ts", "@t", "datetime")
MESSAGE_KEYS = ("msg", "@m", "@mt")
LEVEL_KEYS = ("level", "severity", "@l", "loglevel", "levelname", "lvl")
# a schema namespace given as a string or number: the field it names (others: labels.<namespace>)
_SCALAR_NAMESPACES = {
    "host": "name",
    "service": "name",
    "user": "name",
    "error": "message",
    "process": "name",
    "container": "name",
    "url": "full",
    "user_agent": "original",
    "actor": "id",
    "target": "id",
    "session": "id",
    "correlation": "id",
    "trace": "id",
    "span": "id",
}
# top-level keys that may need a rewrite: a fast path (here, or a native one mirroring it) must
# leave a record holding one of them to the full passes when `Shaper.wants` says so
TRIGGERS = frozenset(TIME_KEYS + MESSAGE_KEYS + LEVEL_KEYS + ("hostname", "pid", "source_type", "k8s", "kubernetes"))
_FLUENT_K8S = {
    "pod_name": ("pod", "name"),
    "namespace_name": ("namespace",),
    "pod_id": ("pod", "uid"),
    "host": ("node", "name"),
    "container_name": ("container", "name"),
}
_OTEL_K8S = {
    ("namespace", "name"): ("namespace",),
    ("pod", "name"): ("pod", "name"),
    ("pod", "uid"): ("pod", "uid"),
    ("node", "name"): ("node", "name"),
    ("container", "name"): ("container", "name"),
}


def load_levels(path: Path = LEVELS_FILE, allowed: tuple[str, ...] | None = None) -> tuple[dict, dict]:
    """(word -> level, number -> level) from levels.yaml; errors name the file, entry and field."""
    spec = yaml.safe_load(path.read_text()) or {}
    if not isinstance(spec, dict) or not isinstance(spec.get("words"), dict) or not isinstance(spec.get("numbers"), dict):
        raise ValueError(f"{path}: expected a mapping with `words` and `numbers`")
    words, numbers = {}, {}
    for level, spellings in spec["words"].items():
        if allowed is not None and level not in allowed:
            raise ValueError(f"{path}: words: {level!r} is not a log.level ({', '.join(allowed)})")
        if not isinstance(spellings, list) or not all(isinstance(w, str) and w for w in spellings):
            raise ValueError(f"{path}: words: {level}: expected a list of words")
        for word in spellings:
            if word.lower() in words:
                raise ValueError(f"{path}: words: {level}: {word!r} is listed twice")
            words[word.lower()] = level
    for number, level in spec["numbers"].items():
        if type(number) is not int:
            raise ValueError(f"{path}: numbers: {number!r}: expected a whole number")
        if allowed is not None and level not in allowed:
            raise ValueError(f"{path}: numbers: {number}: {level!r} is not a log.level")
        numbers[number] = level
    return words, numbers


class Shaper:
    def __init__(
        self,
        levels: tuple[str, ...],
        known_spellings: set[str],
        types: set[str],
        namespaces: set[str],
        parse_time: Callable[[Any, int], Any],
        scrub: Callable[[str], str],
        path: Path = LEVELS_FILE,
    ):
        """`levels`: log.level's values; `known_spellings`: what Converter maps itself (the fast
        path's part); `types`: our event types; `parse_time(value, now_ms)` the canonical @timestamp
        or None; `scrub(text)` the redactor's."""
        self.words, self.numbers = load_levels(path, levels)
        self.known = frozenset(levels) | frozenset(known_spellings)
        self.types = types
        self.namespaces = {n: _SCALAR_NAMESPACES.get(n) for n in namespaces if n != "log"}
        self.parse_time = parse_time
        self.scrub = scrub

    # -- for the fast path ------------------------------------------------------------------

    def wants(self, raw: dict, now_ms: int) -> bool:
        """Whether a record the fast path could take has something to rewrite (a cheap test;
        the namespaces given as strings, unknown levels and ECS event.type lists are declined by
        the fast path already)."""
        if raw.keys().isdisjoint(TRIGGERS):
            return False
        return self._plan(raw, now_ms, dry=True) or self._level(raw, dry=True) or self._kubernetes(raw, dry=True)

    # -- the rewrite --------------------------------------------------------------------------

    def reshape(self, event: dict, now_ms: int) -> None:
        """Rewrites `event` (the redacted copy) in place; see the module's docstring."""
        before = None
        if self._plan(event, now_ms, dry=True):
            try:
                before = orjson.dumps(event, option=orjson.OPT_NON_STR_KEYS).decode()
            except TypeError:  # an integer beyond 64 bits (a Python caller's dict): written as text
                before = json.dumps(event, default=str, ensure_ascii=False)
            self._plan(event, now_ms, dry=False)
        self._level(event)
        self._kubernetes(event)
        if before is not None:
            meta = event.get("event")
            if meta is None:
                meta = event["event"] = {}
            if isinstance(meta, dict) and meta.get("original") is None:
                # cut, then scrubbed again: a cut can part a digit run from the letters it was glued to
                meta["original"] = self.scrub(before[:MAX_ORIGINAL]) if len(before) > MAX_ORIGINAL else before

    def _plan(self, event: dict, now_ms: int, dry: bool) -> bool:
        """Whether there is a rewrite (dry), or does it."""
        changed = False
        for key, leaf in self.namespaces.items():
            value = event.get(key)
            if type(value) in (str, int, float):
                if leaf is None and not _settable(event, ("labels", key)):
                    continue  # (refused as it is: the labels hold that key already)
                changed = True
                if not dry:
                    if leaf is None:
                        del event[key]
                        _put(event, ("labels", key), str(value))
                    else:
                        event[key] = {leaf: str(value)}
        log = event.get("log")
        if type(log) is str:
            changed = True
            if not dry:
                del event["log"]
                if _empty(event.get("message")):
                    event["message"] = log
                else:
                    event["log"] = {"text": log}
        if _empty(event.get("message")):
            for key in MESSAGE_KEYS:
                if type(event.get(key)) is str:
                    changed = True
                    if not dry:
                        event["message"] = event.pop(key)
                    break
        if _get(event, "log", "level") is None:
            for key in LEVEL_KEYS:
                if type(event.get(key)) in (str, int):
                    changed = True
                    if not dry:
                        log = event.get("log")
                        if not isinstance(log, dict):
                            log = event["log"] = {}
                        log["level"] = event.pop(key)
                    break
        if event.get("@timestamp") is None:
            for key in TIME_KEYS:
                value = event.get(key)
                if value is not None and type(value) is not bool and self.parse_time(value, now_ms) is not None:
                    changed = True
                    if not dry:
                        event["@timestamp"] = self.parse_time(event.pop(key), now_ms)
                    break
        for key, path in (("hostname", ("host", "hostname")), ("pid", ("process", "pid"))):
            value = event.get(key)
            if type(value) in ((str,) if key == "hostname" else (int, str)) and _settable(event, path):
                changed = True
                if not dry:
                    _put(event, path, event.pop(key))
        if "source_type" in event and type(event.get("file")) is str and _settable(event, ("log", "file", "path")):
            changed = True
            if not dry:
                _put(event, ("log", "file", "path"), event.pop("file"))
        meta = event.get("event")
        if isinstance(meta, dict):
            kind = meta.get("type")
            if (type(kind) is list or (type(kind) is str and kind not in self.types)) and meta.get("ecs_type") is None:
                changed = True
                if not dry:
                    meta["ecs_type"] = meta.pop("type")
        return changed

    def _level(self, event: dict, dry: bool = False) -> bool:
        log = event.get("log")
        if not isinstance(log, dict):
            return False
        value = log.get("level")
        if type(value) not in (str, int, float) or (
            type(value) is str and value.strip().lower() in self.known and value == value.strip()
        ):
            return False
        if dry:
            return True
        level = None
        if type(value) is str:
            word = value.strip().lower()
            level = self.words.get(word) or (word if word in self.known else None)
            if level is None and word.isdigit():
                level = self.numbers.get(int(word))
        elif type(value) is int or (type(value) is float and value.is_integer()):
            level = self.numbers.get(int(value))
        if level is None or level not in self.known:
            del log["level"]
        else:
            log["level"] = level
        if log.get("original_level") is None:
            log["original_level"] = str(value)[:256]
        return True

    def _kubernetes(self, event: dict, dry: bool = False) -> bool:
        found = False
        fluent, otel = event.get("kubernetes"), event.get("k8s")
        pairs = []
        if isinstance(fluent, dict):
            pairs += [(target, fluent[key]) for key, target in _FLUENT_K8S.items() if type(fluent.get(key)) is str]
        if isinstance(otel, dict):
            pairs += [(target, value) for source, target in _OTEL_K8S.items() if type(value := _get(otel, *source)) is str]
        for target, value in pairs:
            if _settable(event, ("kubernetes", *target)):
                found = True
                if dry:
                    return True
                _put(event, ("kubernetes", *target), value)
        return found


def _empty(value: Any) -> bool:
    return value is None or value == ""


def _get(node: Any, *path: str) -> Any:
    for part in path:
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _settable(event: dict, path: tuple[str, ...]) -> bool:
    """Whether `path` is empty and every object on the way is an object or absent."""
    node: Any = event
    for part in path[:-1]:
        node = node.get(part)
        if node is None:
            return True
        if not isinstance(node, dict):
            return False
    return node.get(path[-1]) is None


def _put(event: dict, path: tuple[str, ...], value: Any) -> None:
    node = event
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = value
