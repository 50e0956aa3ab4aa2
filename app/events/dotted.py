"""Dotted keys (`"actor.id": "p-1"`) nested as objects, as the normaliser's first pass does it;
and, where a part of the path already holds a value, kept with `_` for their dots instead."""

from __future__ import annotations

from typing import Any

from .convert import EventError


def _blocked(out: dict, parts: list[str]) -> bool:
    """Whether a dotted key cannot be nested because a part of its path holds a value already:
    it is then kept with `_` for its dots (as Elastic's dedot processors do), not refused."""
    node: Any = out
    for part in parts[:-1]:
        node = node.get(part)
        if node is None:
            return False
        if not isinstance(node, dict):
            return all(parts)
    return False


def _flat(node: dict, prefix: str):
    """(prefix_a_b, value) for each leaf of a nested object built from dotted keys."""
    for key, value in node.items():
        if isinstance(value, dict) and value:
            yield from _flat(value, f"{prefix}_{key}")
        else:
            yield f"{prefix}_{key}", value


def _put_dotted(out: dict, parts: list[str], value: Any, path: str) -> None:
    if any(not p for p in parts):
        raise EventError(f"invalid field name {'.'.join(parts)[:40]!r} (empty part)", path.rstrip(".") or None)
    node = out
    for i, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise EventError("conflicts with a non-object value of the same name", path + ".".join(parts[: i + 1]))
        node = child
    last = parts[-1]
    if last in node and isinstance(node[last], dict) and isinstance(value, dict):
        _merge(node[last], value, path + ".".join(parts))
    elif last in node:
        raise EventError("given twice (nested and dotted)", path + ".".join(parts))
    else:
        node[last] = value


def _merge(into: dict, other: dict, path: str) -> None:
    for key, value in other.items():
        if key in into and isinstance(into[key], dict) and isinstance(value, dict):
            _merge(into[key], value, f"{path}.{key}")
        elif key in into:
            raise EventError("given twice (nested and dotted)", f"{path}.{key}")
        else:
            into[key] = value
