"""Integration health thresholds, as data (health.yaml): loaded once, validated with errors that
name the file, the section and the field."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

DEFAULT_FILE = Path(__file__).with_name("health.yaml")


class HealthConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Thresholds:
    window_minutes: int = 5
    min_failures: int = 2
    degraded_rate: float = 0.10
    down_rate: float = 0.50
    warmup_minutes: int = 60
    baseline_weeks: int = 4
    span_minutes: int = 5
    min_expected_spans: float = 6.0
    night_start_hour: int = 0
    night_end_hour: int = 6
    default_target: float = 99.5


# section -> field -> (type, low, high)
_FIELDS: dict[str, dict[str, tuple[type, float, float]]] = {
    "status": {
        "window_minutes": (int, 1, 240),
        "min_failures": (int, 1, 100_000),
        "degraded_rate": (float, 0.0, 1.0),
        "down_rate": (float, 0.0, 1.0),
        "warmup_minutes": (int, 0, 7 * 24 * 60),
    },
    "silence": {
        "baseline_weeks": (int, 1, 52),
        "span_minutes": (int, 1, 60),
        "min_expected_spans": (float, 1.0, 1e6),
        "night_start_hour": (int, 0, 23),
        "night_end_hour": (int, 0, 24),
    },
    "slo": {"default_target": (float, 0.0, 100.0)},
}


def parse(data, source: str = "health.yaml") -> Thresholds:
    """Thresholds from the parsed YAML; HealthConfigError names file, section and field."""
    if not isinstance(data, dict):
        raise HealthConfigError(f"{source}: expected a mapping of sections ({', '.join(_FIELDS)})")
    values: dict = {}
    for section, body in data.items():
        if section not in _FIELDS:
            raise HealthConfigError(f"{source}: unknown section {section!r}; expected one of {', '.join(_FIELDS)}")
        if not isinstance(body, dict):
            raise HealthConfigError(f"{source}: {section}: expected a mapping of fields")
        for name, value in body.items():
            spec = _FIELDS[section].get(name)
            if spec is None:
                raise HealthConfigError(
                    f"{source}: {section}: unknown field {name!r}; expected one of {', '.join(_FIELDS[section])}"
                )
            kind, low, high = spec
            ok_type = isinstance(value, int) if kind is int else isinstance(value, (int, float))
            if isinstance(value, bool) or not ok_type:
                raise HealthConfigError(
                    f"{source}: {section}: {name}: expected a {'whole ' if kind is int else ''}number, got {value!r}"
                )
            if not low <= value <= high:
                raise HealthConfigError(f"{source}: {section}: {name}: must be between {low} and {high}, got {value}")
            values[name] = kind(value)
    thresholds = Thresholds(**values)
    if thresholds.degraded_rate > thresholds.down_rate:
        raise HealthConfigError(f"{source}: status: degraded_rate: must not exceed down_rate")
    if 60 % thresholds.span_minutes:
        raise HealthConfigError(
            f"{source}: silence: span_minutes: must divide an hour (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30 or 60)"
        )
    return thresholds


def load(path: Path | str = DEFAULT_FILE) -> Thresholds:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise HealthConfigError(f"{path.name}: not valid YAML: {exc}") from None
    return parse(data, path.name)


@lru_cache(maxsize=1)
def thresholds() -> Thresholds:
    """The shipped thresholds (health.yaml beside this module)."""
    return load()
