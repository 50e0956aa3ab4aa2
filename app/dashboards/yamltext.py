"""A dashboard's YAML text read safely: the same reader for the shipped files and for the ones
people write in the back office (app/dashboards/stored.py), so hostile text is refused the same
way everywhere, with the line and column at fault.

    read_yaml(text, file) -> the parsed data (yaml.safe_load), or DashboardError(file=..., position)

Refused before anything is built: text over MAX_TEXT characters, nesting deeper than MAX_DEPTH,
more than MAX_NODES nodes, and aliases (`*name`: an "anchors and aliases" bomb builds a structure
whose printed form is exponential, and no dashboard needs one). The event stream is read by
PyYAML's parser, which is not recursive, so a deeply nested text cannot exhaust the stack."""

from __future__ import annotations

import yaml

from .definitions import DashboardError

MAX_TEXT = 65_536  # characters: the largest shipped dashboard is about 3 KB
MAX_DEPTH = 12  # a dashboard is at most dashboard > panels > panel > series > item
MAX_NODES = 5_000  # scalars, sequences and mappings


def _where(mark) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


def _error(message: str, file: str | None, mark=None) -> DashboardError:
    where = _where(mark)
    return DashboardError(
        f"{message}" + (f" ({where})" if where else ""), file=file, position=mark.index if mark is not None else None
    )


def read_yaml(text: str, file: str | None = None):
    """The data of a dashboard's YAML text; DashboardError names the file and the position
    (`position`: the 0-based character offset; the message gives line and column)."""
    if not isinstance(text, str):
        raise DashboardError("expected YAML text", file=file)
    if len(text) > MAX_TEXT:
        raise DashboardError(f"at most {MAX_TEXT:,} characters (got {len(text):,})", file=file)
    if "\x00" in text:
        at = text.index("\x00")
        line = text.count("\n", 0, at)
        column = at - (text.rfind("\n", 0, at) + 1)
        raise _error("contains a NUL character", file, yaml.Mark("", at, line, column, None, 0))
    depth = nodes = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                raise _error(f"aliases (*{event.anchor}) are not allowed in a dashboard", file, event.start_mark)
            if isinstance(event, (yaml.ScalarEvent, yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                nodes += 1
                if nodes > MAX_NODES:
                    raise _error(f"more than {MAX_NODES:,} values", file, event.start_mark)
            if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    raise _error(f"nested deeper than {MAX_DEPTH} levels", file, event.start_mark)
            elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                depth -= 1
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = _where(mark)
        problem = getattr(exc, "problem", None) or exc
        raise DashboardError(
            "not valid YAML" + (f" ({where})" if where else "") + f": {problem}",
            file=file,
            position=mark.index if mark is not None else None,
        ) from None
