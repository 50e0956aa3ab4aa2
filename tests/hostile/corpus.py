"""The hostile corpus: loading and validating the case files in tests/hostile/cases/.

One case per file (YAML or JSON). A case is either
  kind: ingest   a payload sent on EVERY ingest path (app routes and the CLI), see INGEST_PATHS
  kind: read     seeded events plus request parameters sent to EVERY read route and page, see READ_ROUTES
and says what must happen (README.md in this folder lists every field). A mistake in a case file
is reported with the file, the case and the field, before any test runs."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CASES_DIR = Path(__file__).parent / "cases"
ROLES = ("administrator", "security", "operations", "technical", "support", "manager", "auditor")
STATUS_CLASSES = ("2xx", "3xx", "4xx")


class CaseError(ValueError):
    def __init__(self, file: str, case: str, field_name: str, message: str):
        super().__init__(f"{file}: case {case!r}, field {field_name!r}: {message}")
        self.file, self.case, self.field = file, case, field_name


@dataclass
class Case:
    id: str
    file: str
    kind: str
    title: str
    why: str = ""
    # ingest
    items: list = field(default_factory=list)        # dicts (events) or bytes (raw items)
    body: dict | None = None                          # a generated whole body (gzip paths only)
    item: str = "either"                              # stored | refused | either
    reason: str | None = None
    unreadable: bool = False                          # the raw item is not JSON on its own
    stored: dict = field(default_factory=dict)        # dotted field -> value, once stored
    within_seconds: float | None = None
    # read
    seed: list = field(default_factory=list)
    params: dict = field(default_factory=dict)
    role: str = "security"
    open_seed: bool = True                            # event pages open the seeded events
    status: tuple = ()                                # allowed classes/codes; () = anything but 5xx
    position: bool = False
    trail: str | None = None                          # recorded_or_refused
    not_raw_in_html: list = field(default_factory=list)
    csv_safe: bool = False                            # no CSV cell a spreadsheet would run as a formula
    # both
    never_on_disk: list = field(default_factory=list)
    never_in_answers: list = field(default_factory=list)

    @property
    def never(self) -> list:
        return sorted(set(self.never_on_disk) | set(self.never_in_answers))

    def __str__(self) -> str:
        return self.id


_COMMON = {"title", "why", "kind", "expect"}
_INGEST_KEYS = _COMMON | {"send"}
_READ_KEYS = _COMMON | {"seed", "params", "as", "open_seed"}
_INGEST_EXPECT = {"item", "reason", "unreadable", "stored", "never", "never_on_disk", "never_in_answers",
                  "within_seconds"}
_READ_EXPECT = {"status", "position", "trail", "not_raw_in_html", "csv_safe", "never", "never_on_disk", "never_in_answers"}
_PARAMS = {"q", "from", "to", "facets", "histogram", "by", "value", "player", "size", "order", "cursor", "fields",
           "stream", "extra"}


def _strings(fail, name, value) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        fail(name, "expected a non-empty string or a list of them")
    return list(value)


def expand(value):
    """Case payloads may generate what cannot be written by hand: a string or list repeated
    ({"$repeat": "W", "times": 10000}) and strings joined ({"$concat": ["{", {"$repeat": ...}, "}"]})."""
    if isinstance(value, dict):
        if set(value) == {"$repeat", "times"}:
            item = expand(value["$repeat"])
            return item * value["times"] if isinstance(item, (str, bytes)) else [item] * value["times"]
        if set(value) == {"$concat"}:
            parts = [expand(p) for p in value["$concat"]]
            if any(isinstance(p, bytes) for p in parts):
                return b"".join(p if isinstance(p, bytes) else p.encode("utf-8", "surrogatepass") for p in parts)
            return "".join(parts)
        return {k: expand(v) for k, v in value.items()}
    if isinstance(value, list):
        return [expand(v) for v in value]
    return value



def parse_case(path: Path, data: Any) -> Case:
    file, case_id = path.name, path.stem

    def fail(name, message):
        raise CaseError(file, case_id, name, message)

    if not isinstance(data, dict):
        fail("(top)", "a case is a mapping")
    for key in ("send", "seed", "params"):
        if key in data:
            try:
                data[key] = expand(data[key])
            except (TypeError, ValueError) as exc:
                fail(key, f"a generator ($repeat/$concat) is malformed: {exc}")
    kind = data.get("kind")
    if kind not in ("ingest", "read"):
        fail("kind", "ingest or read")
    allowed = _INGEST_KEYS if kind == "ingest" else _READ_KEYS
    for key in data:
        if key not in allowed:
            fail(key, f"unknown for a {kind} case (allowed: {', '.join(sorted(allowed))})")
    title = data.get("title")
    if not isinstance(title, str) or not title.strip():
        fail("title", "required: one line saying what the case sends")
    expect = data.get("expect") or {}
    if not isinstance(expect, dict):
        fail("expect", "a mapping")
    for key in expect:
        if key not in (_INGEST_EXPECT if kind == "ingest" else _READ_EXPECT):
            fail(f"expect.{key}", f"unknown for a {kind} case")
    case = Case(id=case_id, file=file, kind=kind, title=title.strip(), why=str(data.get("why", "")))
    never = _strings(fail, "expect.never", expect["never"]) if "never" in expect else []
    case.never_on_disk = never + (_strings(fail, "expect.never_on_disk", expect["never_on_disk"])
                                  if "never_on_disk" in expect else [])
    case.never_in_answers = never + (_strings(fail, "expect.never_in_answers", expect["never_in_answers"])
                                     if "never_in_answers" in expect else [])
    if kind == "ingest":
        _parse_ingest(case, data, expect, fail)
    else:
        _parse_read(case, data, expect, fail)
    return case


def _parse_ingest(case: Case, data: dict, expect: dict, fail) -> None:
    send = data.get("send")
    if not isinstance(send, dict) or len(send) != 1:
        fail("send", "exactly one of event, events, raw, body")
    (how, what), = send.items()
    if how == "event":
        if not isinstance(what, dict):
            fail("send.event", "a JSON object (use send.raw for anything else)")
        case.items = [what]
    elif how == "events":
        if not isinstance(what, list) or not what or not all(isinstance(e, dict) for e in what):
            fail("send.events", "a non-empty list of JSON objects")
        case.items = list(what)
    elif how == "raw":
        if isinstance(what, str):
            what = what.encode("utf-8", "surrogatepass")
        if not isinstance(what, bytes) or not what.strip():
            fail("send.raw", "the item's bytes: a string, or !!binary for bytes that are not UTF-8")
        if b"\n" in what:
            fail("send.raw", "one item, one line: no newline inside (a trailing \\r is allowed)")
        case.items = [what]
    elif how == "body":
        if not isinstance(what, dict) or set(what) != {"gzip_newlines"} or not isinstance(what["gzip_newlines"], int):
            fail("send.body", "{gzip_newlines: N}: a gzip body of N newlines (gzip paths only)")
        case.body = what
    else:
        fail(f"send.{how}", "one of event, events, raw, body")
    case.item = expect.get("item", "either")
    if case.item not in ("stored", "refused", "either"):
        fail("expect.item", "stored, refused or either")
    if "reason" in expect:
        case.reason = _strings(fail, "expect.reason", expect["reason"])[0]
    case.unreadable = bool(expect.get("unreadable", False))
    if case.unreadable and how != "raw":
        fail("expect.unreadable", "only for send.raw (an item that is not JSON on its own)")
    stored = expect.get("stored", {})
    if not isinstance(stored, dict):
        fail("expect.stored", "a mapping of dotted field names to values")
    if stored and case.item == "refused":
        fail("expect.stored", "given for an item that must be refused")
    case.stored = stored
    if "within_seconds" in expect:
        if not isinstance(expect["within_seconds"], (int, float)) or expect["within_seconds"] <= 0:
            fail("expect.within_seconds", "a positive number")
        case.within_seconds = float(expect["within_seconds"])


def _parse_read(case: Case, data: dict, expect: dict, fail) -> None:
    seed = data.get("seed", [])
    if not isinstance(seed, list) or not all(isinstance(e, dict) for e in seed):
        fail("seed", "a list of events (JSON objects)")
    for i, event in enumerate(seed):
        if not isinstance(event.get("event"), dict) or not isinstance(event["event"].get("id"), str):
            fail(f"seed[{i}].event.id", "seeded events need an event.id (the event pages open them)")
    case.seed = seed
    case.open_seed = data.get("open_seed", True)
    if not isinstance(case.open_seed, bool):
        fail("open_seed", "true or false")
    params = data.get("params", {})
    if not isinstance(params, dict):
        fail("params", "a mapping of request parameters")
    for key, value in params.items():
        if key not in _PARAMS:
            fail(f"params.{key}", f"unknown (known: {', '.join(sorted(_PARAMS))})")
        if key == "extra":
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                fail("params.extra", "a mapping of further parameters, string values")
        elif not isinstance(value, str):
            fail(f"params.{key}", "a string (quote numbers)")
    case.params = params
    case.role = data.get("as", "security")
    if case.role not in ROLES:
        fail("as", f"one of {', '.join(ROLES)}")
    status = expect.get("status", [])
    status = [status] if isinstance(status, (str, int)) else status
    for s in status:
        if not (s in STATUS_CLASSES or (isinstance(s, int) and 200 <= s < 500)):
            fail("expect.status", f"{s!r}: a class ({', '.join(STATUS_CLASSES)}) or a code below 500")
    case.status = tuple(status)
    case.position = bool(expect.get("position", False))
    if case.position and status and not any(s == "4xx" or (isinstance(s, int) and s >= 400) for s in status):
        fail("expect.position", "an error position needs a 4xx status to be allowed")
    case.trail = expect.get("trail")
    if case.trail not in (None, "recorded_or_refused"):
        fail("expect.trail", "recorded_or_refused")
    case.csv_safe = bool(expect.get("csv_safe", False))
    if "not_raw_in_html" in expect:
        case.not_raw_in_html = _strings(fail, "expect.not_raw_in_html", expect["not_raw_in_html"])


def load_file(path: Path) -> Case:
    text = path.read_bytes()
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise CaseError(path.name, path.stem, "(file)", f"not valid {path.suffix[1:].upper()}: {exc}") from None
    return parse_case(path, data)


def load_cases(directory: Path = CASES_DIR) -> list[Case]:
    """Every case, validated; strings that must never be stored are unique to one case (the
    corpus shares a store per path, so a leak must be attributable to the case that sent it)."""
    files = sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml", ".json"))
    cases = [load_file(p) for p in files]
    owner: dict[str, Case] = {}
    for case in cases:
        for needle in case.never_on_disk:
            other = owner.setdefault(needle, case)
            if other is not case:
                raise CaseError(case.file, case.id, "expect.never_on_disk",
                                f"{needle!r} is also a never-on-disk string of {other.file}; cases share a store, so "
                                "pick a value of this case's own (tests/hostile/luhn.py makes card numbers)")
    seen_ids: dict[str, Case] = {}
    for case in cases:
        for event in case.seed:
            other = seen_ids.setdefault(event["event"]["id"], case)
            if other is not case:
                raise CaseError(case.file, case.id, "seed", f"event id {event['event']['id']!r} is also seeded by {other.file}")
    return cases
