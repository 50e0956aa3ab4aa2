"""Custom fingerprint rules, as data (app/events/fingerprints.yaml): errors a rule matches are
grouped by the rule's own parts instead of the computed fingerprint (app/events/fingerprint.py).

    rules:
      - id: deadlocks                      # unique, names the rule in errors and on the pages
        when: {error.message: {matches: "(?i)deadlock detected"}}
        fingerprint: ["deadlock", "{service.name}"]
        title: "Deadlock in {service.name}"   # optional; the computed title otherwise

`when` takes the conditions of the classification rules (app/events/classify.py: a plain value,
exists, in, prefix, matches), every one of which must hold; `fingerprint` is a list of parts, in
which `{field}` is the event's value of a schema field (empty when absent), `{default}` the
computed fingerprint, `{type}` error.type and `{message}` the message template. Rules are tried
in order; the first that matches decides. A mistake is refused at start with the file, the rule
and the field it is in."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .classify import _MISSING, _get, _matcher
from .fingerprint import Fingerprint, digest, fingerprint, parts, title_of

DEFAULT_FILE = Path(__file__).with_name("fingerprints.yaml")
SPECIAL = ("default", "type", "message")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}\Z")
MAX_PARTS = 10
MAX_PART_VALUE = 200


@dataclass(frozen=True)
class Rule:
    id: str
    conditions: tuple[tuple[tuple[str, ...], Callable[[Any], bool]], ...]
    parts: tuple[str, ...]
    title: str | None = None

    def matches(self, event: dict) -> bool:
        return all(test(_get(event, path)) for path, test in self.conditions)

    def apply(self, event: dict, computed: Fingerprint) -> Fingerprint:
        values: dict[str, str] = {"default": computed.value}
        if "{type}" in "".join(self.parts) + (self.title or "") or "{message}" in "".join(self.parts) + (self.title or ""):
            type_, message, _ = parts(event)
            values.update(type=type_, message=message)

        def fill(text: str) -> str:
            return _PLACEHOLDER.sub(lambda m: values[m[1]] if m[1] in values else _value(event, m[1]), text)

        value = digest(["rule", self.id, *(fill(p) for p in self.parts)])
        title = title_of("", fill(self.title)) if self.title else computed.title
        return Fingerprint(value, title, self.id)


def _value(event: dict, name: str) -> str:
    found = _get(event, tuple(name.split(".")))
    if found is _MISSING or found is None or isinstance(found, (dict, list)):
        return ""
    return str(found)[:MAX_PART_VALUE]


def load(path: Path | None = None, fields: Iterable[str] | None = None) -> list[Rule]:
    """The rules of `path` (the default file when None). `fields`: the schema's field names, that
    `when` and the placeholders may use (any name when None). ValueError names file, rule, field."""
    path = path or DEFAULT_FILE
    try:
        spec = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: {exc}") from None
    return parse(spec, str(path), None if fields is None else set(fields))


def parse(spec: Any, source: str, fields: set[str] | None) -> list[Rule]:
    if spec is None:
        return []
    if not isinstance(spec, dict) or set(spec) - {"rules"} or not isinstance(spec.get("rules") or [], list):
        raise ValueError(f"{source}: expected `rules:`, a list of {{id, when, fingerprint, title}}")
    rules, seen = [], set()
    for i, item in enumerate(spec.get("rules") or []):
        where = f"{source}: rules[{i}]" + (f" ({item.get('id')})" if isinstance(item, dict) and item.get("id") else "")
        if not isinstance(item, dict):
            raise ValueError(f"{where}: expected a mapping with id, when, fingerprint and title")
        unknown = set(item) - {"id", "when", "fingerprint", "title"}
        if unknown:
            raise ValueError(f"{where}: {sorted(unknown)[0]}: unknown key; expected id, when, fingerprint, title")
        rule_id = item.get("id")
        if not isinstance(rule_id, str) or not _ID.match(rule_id):
            raise ValueError(f"{where}: id: 1-64 lower-case letters, digits, '-' or '_'")
        if rule_id in seen:
            raise ValueError(f"{where}: id: {rule_id!r} is used twice")
        seen.add(rule_id)
        when = item.get("when")
        if not isinstance(when, dict) or not when:
            raise ValueError(f"{where}: when: expected at least one condition (field: value)")
        conditions = []
        for name, condition in when.items():
            if not isinstance(name, str) or not _known(name, fields, namespaces=True):
                raise ValueError(f"{where}: when: {name!r} is not a field of the schema")
            try:
                conditions.append((tuple(name.split(".")), _matcher(name, condition)))
            except (ValueError, TypeError, re.error) as exc:
                raise ValueError(f"{where}: when.{name}: {exc}") from None
        pieces = item.get("fingerprint")
        if (
            not isinstance(pieces, list)
            or not pieces
            or len(pieces) > MAX_PARTS
            or not all(isinstance(p, str) and p for p in pieces)
        ):
            raise ValueError(f"{where}: fingerprint: expected a list of 1-{MAX_PARTS} non-empty strings")
        title = item.get("title")
        if title is not None and (not isinstance(title, str) or not title.strip()):
            raise ValueError(f"{where}: title: expected a non-empty string")
        for key, texts in (("fingerprint", pieces), ("title", [title] if title else [])):
            for text in texts:
                for name in _PLACEHOLDER.findall(text):
                    if name not in SPECIAL and not _known(name, fields, namespaces=False):
                        raise ValueError(
                            f"{where}: {key}: {{{name}}} is neither a field of the schema nor one of "
                            + ", ".join(f"{{{s}}}" for s in SPECIAL)
                        )
        rules.append(Rule(rule_id, tuple(conditions), tuple(pieces), title))
    return rules


def _known(name: str, fields: set[str] | None, namespaces: bool) -> bool:
    if not name or any(not p for p in name.split(".")):
        return False
    if fields is None or name in fields or name.startswith("labels."):
        return True
    return namespaces and any(f.startswith(name + ".") for f in fields)


class Fingerprinter:
    """What ingest calls (app/events/normalize.py): stamps `error.fingerprint` on every error."""

    def __init__(self, rules: Iterable[Rule] = ()):
        self.rules = tuple(rules)

    @classmethod
    def from_file(cls, path: Path | None = None, fields: Iterable[str] | None = None) -> Fingerprinter:
        return cls(load(path, fields))

    def fingerprint(self, event: dict) -> Fingerprint | None:
        return fingerprint(event, self.rules)

    def stamp(self, event: dict) -> None:
        """Sets event["error"]["fingerprint"] on an error (replacing one the client sent), and
        removes one from anything else."""
        found = fingerprint(event, self.rules)
        if found is None:  # only errors have one: a client's value on anything else is dropped
            error = event.get("error")
            if isinstance(error, dict):
                error.pop("fingerprint", None)
            return
        error = event.get("error")
        if isinstance(error, dict):
            error["fingerprint"] = found.value
        else:
            event["error"] = {"fingerprint": found.value}
