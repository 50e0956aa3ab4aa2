"""What counts as a failure: one place for the test on an event and the query text that finds the
same events, so pages, rollups, dashboards and alert rules agree. The values are data
(failures.yaml beside this file); the shipped rule and dashboards carry the query text made here.

Two meanings, kept apart on purpose:
- a *failed event*: outcome failure, an error-or-worse level, or a provider answer other than
  ok/success (a declined card is a failed payment attempt from the player's side);
- a *provider failure*: the provider did not answer properly — error, timeout or an open circuit
  breaker. A declined card or a rejected document is an answer, so it does not count against the
  provider's health (as in the shipped rule alerts/integration-failing-per-provider.yaml).
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

DEFINITION_FILE = Path(__file__).with_name("failures.yaml")
_VALUE = re.compile(r"[a-z][a-z0-9_]*\Z")  # a plain value: the query text needs no quoting
_LISTS = ("failure_levels", "success_statuses", "integration_failure_statuses")


class DefinitionError(ValueError):
    """failures.yaml is not a valid definition; the message names the file and the entry."""


def load_definition(path: Path = DEFINITION_FILE) -> dict:
    """The definition, checked: each list a non-empty list of plain lower-case values."""
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise DefinitionError(f"{path}: cannot read: {exc}") from None
    if not isinstance(raw, dict):
        raise DefinitionError(f"{path}: expected a mapping of {', '.join(_LISTS)} and timeout_status")
    unknown = set(raw) - {*_LISTS, "timeout_status"}
    if unknown:
        raise DefinitionError(f"{path}: unknown entry {sorted(unknown)[0]!r}")
    out: dict = {}
    for name in _LISTS:
        values = raw.get(name)
        if not isinstance(values, list) or not values:
            raise DefinitionError(f"{path}: {name}: expected a non-empty list of values")
        for value in values:
            if not isinstance(value, str) or not _VALUE.match(value):
                raise DefinitionError(f"{path}: {name}: {value!r} is not a plain lower-case value")
        out[name] = tuple(values)
    timeout = raw.get("timeout_status")
    if timeout not in out["integration_failure_statuses"]:
        raise DefinitionError(f"{path}: timeout_status: {timeout!r} is not one of integration_failure_statuses")
    out["timeout_status"] = timeout
    return out


def _any(field: str, values: tuple[str, ...]) -> str:
    return f"{field}:({' OR '.join(values)})" if len(values) > 1 else f"{field}:{values[0]}"


_DEFINITION = load_definition()
FAILURE_LEVELS: tuple[str, ...] = _DEFINITION["failure_levels"]
SUCCESS_STATUSES: tuple[str, ...] = _DEFINITION["success_statuses"]
INTEGRATION_FAILURE_STATUSES: tuple[str, ...] = _DEFINITION["integration_failure_statuses"]
TIMEOUT_STATUS: str = _DEFINITION["timeout_status"]

FAILURE_LEVEL_QUERY = _any("log.level", FAILURE_LEVELS)
FAILURE_QUERY = (
    f"event.outcome:failure OR {FAILURE_LEVEL_QUERY} "
    f"OR (integration.status:* AND NOT {_any('integration.status', SUCCESS_STATUSES)})"
)
INTEGRATION_FAILURE_QUERY = _any("integration.status", INTEGRATION_FAILURE_STATUSES)


def _at(event: dict, section: str, key: str):
    part = event.get(section)
    return part.get(key) if isinstance(part, dict) else None


def is_failure(event: dict) -> bool:
    """The event records something that went wrong (FAILURE_QUERY finds the same events)."""
    status = _at(event, "integration", "status")
    return (
        _at(event, "event", "outcome") == "failure"
        or _at(event, "log", "level") in FAILURE_LEVELS
        or (status is not None and status not in SUCCESS_STATUSES)
    )


def is_integration_failure(event: dict) -> bool:
    """The provider failed to answer (INTEGRATION_FAILURE_QUERY finds the same events)."""
    return _at(event, "integration", "status") in INTEGRATION_FAILURE_STATUSES
