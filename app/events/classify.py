"""Ordered, data-driven classification of events into a component and a type."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DEFAULT_FILE = Path(__file__).with_name("classification.yaml")
_MISSING = object()


def _get(event: dict, path: tuple[str, ...]) -> Any:
    node: Any = event
    for part in path:
        if not isinstance(node, dict):
            return _MISSING
        node = node.get(part, _MISSING)
        if node is _MISSING:
            return _MISSING
    return node


def _matcher(field: str, spec: Any) -> Callable[[Any], bool]:
    if not isinstance(spec, dict):
        return lambda v: v == spec
    if len(spec) != 1:
        raise ValueError(f"condition on {field}: use exactly one of exists, in, prefix, matches, contains")
    ((op, arg),) = spec.items()
    if op == "exists":
        return lambda v: (v is not _MISSING and v is not None) == bool(arg)
    if op == "in":
        values = frozenset(arg)
        return lambda v: isinstance(v, str) and v in values
    if op == "prefix":
        return lambda v: isinstance(v, str) and v.startswith(arg)
    if op == "matches":
        pattern = re.compile(arg)
        return lambda v: isinstance(v, str) and pattern.search(v) is not None
    if op == "contains":  # a list holding the value (ECS event.category: [authentication])
        return lambda v: isinstance(v, list) and arg in v
    raise ValueError(f"condition on {field}: unknown operator {op!r}")


@dataclass(frozen=True)
class Rule:
    id: str
    conditions: tuple[tuple[tuple[str, ...], Callable[[Any], bool]], ...]
    component: str | None
    type: str | None

    def matches(self, event: dict) -> bool:
        return all(test(_get(event, path)) for path, test in self.conditions)


class Classifier:
    def __init__(self, rules: list[Rule]):
        self.rules = rules

    @classmethod
    def from_file(cls, path: Path | None = None, components=None, types=None) -> Classifier:
        spec = yaml.safe_load((path or DEFAULT_FILE).read_text()) or {}
        rules, seen = [], set()
        for item in spec.get("rules", []):
            rule_id = item.get("id")
            if not rule_id or rule_id in seen:
                raise ValueError(f"classification rule {item!r}: needs a unique id")
            seen.add(rule_id)
            target = item.get("set") or {}
            if components is not None and target.get("component") not in (None, *components):
                raise ValueError(f"classification rule {rule_id}: unknown component {target['component']!r}")
            if types is not None and target.get("type") not in (None, *types):
                raise ValueError(f"classification rule {rule_id}: unknown type {target['type']!r}")
            conditions = tuple((tuple(f.split(".")), _matcher(f, s)) for f, s in (item.get("when") or {}).items())
            rules.append(Rule(rule_id, conditions, target.get("component"), target.get("type")))
        return cls(rules)

    def classify(self, event: dict) -> tuple[str | None, str | None, str]:
        """(component, type, classified_by) for an event; fills only what the event lacks."""
        meta = event.get("event") or {}
        component, type_ = meta.get("component"), meta.get("type")
        if component and type_:
            return component, type_, "client"
        used = []
        for rule in self.rules:
            if ((rule.component and not component) or (rule.type and not type_)) and rule.matches(event):
                if rule.component and not component:
                    component = rule.component
                if rule.type and not type_:
                    type_ = rule.type
                used.append(rule.id)
                if component and type_:
                    break
        return component, type_, ",".join(used)
