"""The hostile corpus runner: every case in cases/ on every ingest path or every read route, on
every backend (SQLite, and the real OpenSearch node when PLATLOGS_TEST_OPENSEARCH is set).

A new way in or a new page gets the whole corpus by being added to ONE list below:
INGEST_PATHS (how an item is sent and how the answer reports it) or READ_ROUTES (which URL,
which case parameters it reads, which permission it needs)."""
from __future__ import annotations

import gzip
import html
import json
import multiprocessing
import re
import time
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

import pytest

from app.access import can
from conftest import BACKENDS

from . import scan
from .corpus import Case, load_cases

CASES = load_cases()
INGEST_CASES = [c for c in CASES if c.kind == "ingest"]
READ_CASES = [c for c in CASES if c.kind == "read"]


def encode_item(item) -> bytes:
    """An item's bytes on the wire: raw items as written, events as JSON (UTF-8; big integers,
    NaN and lone surrogates as Python's json writes them, which orjson would refuse to)."""
    if isinstance(item, bytes):
        return item
    if isinstance(item, str):
        return item.encode("utf-8", "surrogatepass")
    try:
        return json.dumps(item, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:   # a lone surrogate: as a JSON escape
        return json.dumps(item).encode("ascii")


# -- ingest paths -------------------------------------------------------------------------------

@dataclass
class Sent:
    """What one path reported: status (HTTP, or the CLI's exit code mapped to 200/400), the
    answers' bytes (for the never-shown check), per-item outcome by item number."""
    status: int
    answers: list[tuple[bytes, str]] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)   # item number -> reason
    whole_refused: str | None = None                        # the body as a whole was refused
    seconds: float = 0.0


def _report(response, numbers: dict[int, int], key: str) -> Sent:
    """An ingest answer -> Sent; `numbers` maps the answer's positions to item numbers."""
    sent = Sent(response.status_code, [(response.get_data(), response.content_type or "")])
    body = response.get_json(silent=True)
    if not isinstance(body, dict):
        sent.whole_refused = f"not a JSON answer: {response.get_data()[:200]!r}"
        return sent
    if "error" in body:
        sent.whole_refused = str(body["error"].get("message"))
        return sent
    for error in body.get("errors", []):
        if error.get(key) in numbers:
            sent.refused[numbers[error[key]]] = error.get("reason", "")
    return sent


def send_object(world, items: list[bytes], gzip_body: bool = False) -> Sent:
    """POST /api/v1/events, each item alone as the body (no neighbours: it is alone)."""
    total = Sent(200)
    for number, item in enumerate(items):
        response = world.client.post("/api/v1/events", data=item,
                                     headers={**world.ingest_headers, "Content-Type": "application/json"})
        one = _report(response, {0: number}, "index")
        total.answers += one.answers
        total.status = max(total.status, one.status)
        if one.whole_refused is not None or response.status_code >= 400:
            total.refused[number] = one.whole_refused or one.refused.get(number, "")
    return total


def _array_body(neighbours: tuple[bytes, bytes], items: list[bytes]) -> tuple[bytes, dict[int, int]]:
    parts = [neighbours[0], *items, neighbours[1]]
    return b"[" + b",".join(parts) + b"]", {i + 1: i for i in range(len(items))}


def send_array(world, items, neighbours, gzip_body=False) -> Sent:
    """POST /api/v1/events, an array: a good neighbour, the items, a good neighbour."""
    body, numbers = _array_body(neighbours, items)
    headers = {**world.ingest_headers, "Content-Type": "application/json"}
    if gzip_body:
        body, headers = gzip.compress(body), {**headers, "Content-Encoding": "gzip"}
    return _report(world.client.post("/api/v1/events", data=body, headers=headers), numbers, "index")


def _ndjson(neighbours, items) -> tuple[bytes, dict[int, int]]:
    lines = [neighbours[0], *items, neighbours[1]]
    return b"".join(line + b"\n" for line in lines), {i + 2: i for i in range(len(items))}


def send_bulk(world, items, neighbours, gzip_body=False) -> Sent:
    """POST /api/v1/events/bulk, NDJSON: neighbour, items, neighbour (plain or gzipped)."""
    body, numbers = _ndjson(neighbours, items)
    headers = dict(world.ingest_headers)
    if gzip_body:
        body, headers = gzip.compress(body), {**headers, "Content-Encoding": "gzip"}
    return _report(world.client.post("/api/v1/events/bulk", data=body, headers=headers), numbers, "line")


def send_cli(world, items, neighbours, gzip_body=False) -> Sent:
    """`platlogs ingest FILE` (the click entry point, in-process) on the world's data directory."""
    body, numbers = _ndjson(neighbours, items)
    path = world.scratch / ("cli-input.ndjson.gz" if gzip_body else "cli-input.ndjson")
    path.write_bytes(gzip.compress(body) if gzip_body else body)
    result = run_cli(world, ["ingest", str(path)])
    out = (result.stdout + result.stderr).encode()
    sent = Sent(200 if result.exit_code == 0 else 400 if result.exit_code == 1 else 500, [(out, "text/plain")])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        sent.status = 500
        sent.whole_refused = f"the command crashed: {result.exception!r}"
    for line_no, reason in re.findall(r"^  line (\d+): (.*)$", result.stderr, re.M):
        if int(line_no) in numbers:
            sent.refused[numbers[int(line_no)]] = reason
    return sent


def run_cli(world, args):
    import gc
    from click.testing import CliRunner
    from app.cli import main
    thresholds = gc.get_threshold()
    try:
        return CliRunner().invoke(main, args, env=world.env, catch_exceptions=True)
    finally:   # `platlogs ingest` tunes the GC of its process: give pytest's back
        gc.unfreeze()
        gc.set_threshold(*thresholds)


@dataclass
class IngestPath:
    name: str
    send: Callable
    gzip: bool = False
    neighbours: bool = True       # items travel beside good neighbours
    items_apart: bool = False     # each item is parsed on its own (a bad line never spoils the body)
    other_store: bool = False     # writes through a store object of its own: refresh OpenSearch before reading


INGEST_PATHS = [
    IngestPath("events-object", send_object, neighbours=False),
    IngestPath("events-array", send_array),
    IngestPath("bulk", send_bulk, items_apart=True),
    IngestPath("bulk-gzip", send_bulk, gzip=True, items_apart=True),
    IngestPath("cli-ingest", send_cli, items_apart=True, other_store=True),
]


# -- read routes --------------------------------------------------------------------------------

NO_MATCH = "p-hx-nobody"
Q_PARAMS = ("q", "from", "to", "extra")


@dataclass
class ReadRoute:
    name: str
    url: str                       # {id} is each seeded event's id
    reads: tuple[str, ...]         # the case parameters this route takes
    permission: str
    fixed: dict = field(default_factory=dict)
    defaults: dict = field(default_factory=dict)
    api: bool = False              # JSON API (errors are JSON) rather than a page
    strict: bool = True            # runs what it reads (False: only echoes it, e.g. /tail's page)

    def requests(self, case: Case) -> list[tuple[str, dict]]:
        params = {k: v for k, v in case.params.items() if k in self.reads and k != "extra"}
        if "extra" in self.reads:
            params.update(case.params.get("extra", {}))
        query = {**self.defaults, **params, **self.fixed}
        if "{id}" in self.url:
            return [(self.url.format(id=e["event"]["id"]), query) for e in case.seed]
        return [(self.url, query)]

    def judges(self, case: Case) -> bool:
        """Whether the case's status, position and trail expectations hold here: the route runs
        every parameter the case sends (a route that ignores one cannot be expected to refuse it)."""
        return self.strict and set(case.params) - {"extra"} <= set(self.reads)

    def applies(self, case: Case) -> bool:
        if "{id}" in self.url:
            return bool(case.seed) and case.open_seed
        return bool(set(case.params) & set(self.reads)) or (bool(case.seed) and case.open_seed)


_SEARCH = ("q", "from", "to", "facets", "histogram", "size", "order", "cursor", "stream", "extra")
_EXPORT = ("q", "from", "to", "facets", "histogram", "size", "order", "fields", "extra")
_WINDOW = ("q", "from", "to", "extra")
READ_ROUTES = [
    ReadRoute("api-search", "/api/v1/search", _SEARCH, "search", api=True, defaults={"from": ""}),
    ReadRoute("api-export-csv", "/api/v1/export", _EXPORT, "export", {"format": "csv"}, {"from": ""}, api=True),
    ReadRoute("api-export-ndjson", "/api/v1/export", _EXPORT, "export", {"format": "ndjson"}, {"from": ""}, api=True),
    ReadRoute("api-timeline", "/api/v1/timeline", ("by", "value", "from", "to", "cursor", "extra"), "view_timeline",
              defaults={"by": "player", "value": NO_MATCH}, api=True),
    ReadRoute("api-event", "/api/v1/events/{id}", ("stream", "extra"), "search", api=True),
    ReadRoute("api-context", "/api/v1/events/{id}/context", ("by", "extra"), "search", api=True),
    ReadRoute("page-search", "/", ("q", "from", "to", "cursor", "stream", "extra"), "search"),
    ReadRoute("page-event", "/events/{id}", ("stream", "extra"), "search"),
    ReadRoute("page-context", "/events/{id}/context", ("by", "extra"), "search"),
    ReadRoute("page-timeline", "/timeline", ("by", "value", "q", "from", "to", "cursor", "extra"), "view_timeline",
              defaults={"by": "player", "value": NO_MATCH}),
    ReadRoute("page-errors", "/errors", _WINDOW, "view_errors"),
    ReadRoute("page-players", "/players", ("player", "q", "from", "to", "extra"), "view_user_actions",
              defaults={"player": NO_MATCH}),
    ReadRoute("page-admin-ops", "/admin-operations", _WINDOW + ("cursor",), "view_admin_ops"),
    ReadRoute("page-api-activity", "/api-activity", _WINDOW, "view_api"),
    ReadRoute("page-integrations", "/integrations", _WINDOW, "view_integrations"),
    ReadRoute("page-tail", "/tail", ("q", "extra"), "live_tail", strict=False),   # the page only echoes q
]


# -- helpers ------------------------------------------------------------------------------------

def get_path(event, dotted: str):
    node = event
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def neighbour(case: Case, n: int) -> dict:
    return {"message": f"good neighbour {n} of {case.id}", "event": {"id": f"nb{n}-{case.id}", "action": "login"},
            "actor": {"type": "player", "id": "p-neighbour"}}


def with_ids(case: Case) -> tuple[list, list[str | None]]:
    """The case's items, events given an event.id of their own when they have none (to be found
    again); the ids (None for raw items and events whose `event` is not an object)."""
    items, ids = [], []
    for k, item in enumerate(case.items):
        if isinstance(item, dict) and isinstance(item.get("event", {}), dict) and "event.id" not in item:
            item = {**item, "event": dict(item.get("event") or {})}
            item["event"].setdefault("id", f"hx-{case.id}-{k}")
            ids.append(item["event"]["id"] if isinstance(item["event"]["id"], str) else None)
        else:
            ids.append(None)
        items.append(item)
    return items, ids


def first_leak(world, needles: list[str], test_id: str) -> str:
    return leak_message(world, world.disk_hits(needles), test_id)


def leak_message(world, found: dict[str, list[str]], test_id: str) -> str:
    """Disk hits as a message, noting when a string was already found by an earlier test."""
    for needle in found:
        world.leaked.setdefault(needle, test_id)
    return "; ".join(f"{n!r} stored in {', '.join(sorted(set(w))[:4])}"
                     + (f" (first found by {world.leaked[n]})" if world.leaked[n] != test_id else "")
                     for n, w in found.items())


# -- the gzip bomb: answered in a child process, so a hang is a failure, not a stuck suite --------

@lru_cache(maxsize=4)
def gzip_newlines(count: int) -> bytes:
    deflate = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block, parts = b"\n" * (1 << 20), []
    for _ in range(count >> 20):
        parts.append(deflate.compress(block))
    parts.append(deflate.compress(b"\n" * (count & ((1 << 20) - 1))))
    return b"".join(parts) + deflate.flush()


def _post_in_child(env: dict, key: str, url: str, body: bytes, pipe) -> None:
    from app import create_app
    app = create_app(env)
    response = app.test_client().post(url, data=body, headers={"Authorization": f"Bearer {key}",
                                                                "Content-Encoding": "gzip"})
    pipe.send((response.status_code, response.get_data(), response.content_type))


def post_with_deadline(world, url: str, body: bytes, seconds: float) -> tuple[int, bytes, str] | None:
    ctx = multiprocessing.get_context("fork")
    mine, theirs = ctx.Pipe()
    child = ctx.Process(target=_post_in_child, args=(world.env, world.ingest_key, url, body, theirs), daemon=True)
    child.start()
    answer = mine.recv() if mine.poll(seconds) else None
    if child.is_alive():
        child.kill()
    child.join()
    return answer


# -- the tests ----------------------------------------------------------------------------------

def _backend_params():
    return [pytest.param(b, id=b) for b in BACKENDS]


def _ingest_params():   # path by path: the tests of one world run together
    for path in INGEST_PATHS:
        for case in INGEST_CASES:
            if case.body is not None and not (path.gzip or path.send is send_cli):
                continue   # a generated gzip body: on the gzip paths (and the CLI, as FILE.gz) only
            yield pytest.param(case, path, id=f"{case.id}@{path.name}")


def _read_params():
    for route in READ_ROUTES:
        for case in READ_CASES:
            if route.applies(case):
                yield pytest.param(case, route, id=f"{case.id}@{route.name}")


@pytest.mark.parametrize("case,path", list(_ingest_params()))
@pytest.mark.parametrize("backend", _backend_params())
def test_ingest_case(backend, case: Case, path: IngestPath, worlds, request):
    world = worlds(backend, f"ingest-{path.name}")
    problems = check_ingest(world, case, path, request.node.name)
    assert not problems, f"{case.file} ({case.title}) on {path.name}/{backend}:\n  " + "\n  ".join(problems)


def check_ingest(world, case: Case, path: IngestPath, test_id: str) -> list[str]:
    """Send the case on `path` and return every way the outcome breaks the case's promises."""
    problems: list[str] = []
    if case.body is not None:
        _body_case(world, case, path, problems)
        return problems
    items, ids = with_ids(case)
    wire = [encode_item(i) for i in items]
    neighbours = (encode_item(neighbour(case, 1)), encode_item(neighbour(case, 2)))
    started = time.monotonic()
    sent = (path.send(world, wire, neighbours, gzip_body=path.gzip) if path.neighbours
            else path.send(world, wire))
    sent.seconds = time.monotonic() - started
    if path.other_store:
        world.refresh()   # the app's own store refreshes what it wrote before it searches
    reader = world.persona("security")

    if sent.status >= 500:
        problems.append(f"answered {sent.status}: {sent.answers[-1][0][:300]!r}")
    if case.within_seconds and sent.seconds > case.within_seconds:
        problems.append(f"took {sent.seconds:.1f} s, over {case.within_seconds} s")

    whole_expected = case.unreadable and not path.items_apart
    if whole_expected:
        if sent.whole_refused is None and not sent.refused:
            problems.append("an item that is not JSON was not refused")
    else:
        if sent.whole_refused is not None:
            problems.append(f"the whole body was refused ({sent.status}: {sent.whole_refused[:200]}); "
                            "only the bad item should be")
        if path.neighbours:
            for n in (1, 2):
                nid = f"nb{n}-{case.id}"
                if reader.get(f"/api/v1/events/{nid}").status_code != 200:
                    problems.append(f"good neighbour {nid} was not stored")

    stored_events: list[dict] = []
    for number, event_id in enumerate(ids):
        refused = number in sent.refused or sent.whole_refused is not None
        if case.item == "stored" and refused:
            problems.append(f"item {number} refused: {sent.refused.get(number) or sent.whole_refused}")
        if case.item == "refused" and not refused:
            problems.append(f"item {number} was accepted; it must be refused")
        if refused and case.reason and case.reason.lower() not in (sent.refused.get(number) or sent.whole_refused
                                                                  or "").lower():
            problems.append(f"item {number}: reason {sent.refused.get(number) or sent.whole_refused!r} "
                            f"does not say {case.reason!r}")
        if not refused and event_id:
            got = reader.get(f"/api/v1/events/{event_id}")
            sent.answers.append((got.get_data(), got.content_type or ""))
            if got.status_code != 200:
                problems.append(f"item {number} reported accepted but {event_id} cannot be read back ({got.status_code})")
                continue
            stored_events.append(got.get_json())
            page = reader.get(f"/events/{event_id}")
            sent.answers.append((page.get_data(), page.content_type or ""))
            if page.status_code >= 500:
                problems.append(f"the event page of {event_id} answered {page.status_code}")
            for dotted, want in case.stored.items():
                have = get_path(stored_events[-1], dotted)
                if have != want:
                    problems.append(f"{event_id}: {dotted} is {have!r}, expected {want!r}")

    for body, content_type in sent.answers:
        shown = scan.answer_hits(body, content_type, case.never_in_answers)
        if shown:
            problems.append(f"shown in an answer ({content_type or 'no type'}): {shown}")
    if case.never_on_disk:
        canaries = [e["event"]["id"] for e in stored_events][:1]
        found = world.disk_hits(case.never_on_disk + canaries)   # one scan for both
        leak = leak_message(world, {n: w for n, w in found.items() if n not in canaries}, test_id)
        if leak:
            problems.append(leak)
        if canaries and canaries[0] not in found:
            problems.append(f"the disk scan cannot see the stored event {canaries[0]}: it proves nothing")
    return problems


def _body_case(world, case: Case, path: IngestPath, problems: list[str]) -> None:
    body = gzip_newlines(case.body["gzip_newlines"])
    seconds = case.within_seconds or 30
    started = time.monotonic()
    if path.send is send_cli:   # `platlogs ingest FILE.gz`, as a process: killed at the deadline
        import subprocess
        import sys
        file = world.scratch / "bomb.ndjson.gz"
        file.write_bytes(body)
        try:
            done = subprocess.run([sys.executable, "-m", "app.cli", "ingest", str(file)], env={**world.env, "PATH": "/usr/bin:/bin"},
                                  capture_output=True, timeout=seconds)
            answer = (200 if done.returncode == 0 else 400 if done.returncode == 1 else 500,
                      done.stdout + done.stderr, "text/plain")
        except subprocess.TimeoutExpired:
            answer = None
    else:
        answer = post_with_deadline(world, "/api/v1/events/bulk", body, seconds)
    if answer is None:
        problems.append(f"no answer within {seconds} s to a {len(body):,}-byte gzip body of "
                        f"{case.body['gzip_newlines']:,} newlines (killed)")
        return
    status, data, content_type = answer
    if status >= 500:
        problems.append(f"answered {status}: {data[:200]!r}")
    if path.send is not send_cli and "json" not in content_type:
        problems.append(f"answer is {content_type}, not JSON")
    if time.monotonic() - started > seconds:
        problems.append(f"took {time.monotonic() - started:.1f} s, over {seconds} s")


@pytest.fixture(scope="module")
def read_world_factory(worlds):
    """The read routes' world per backend, seeded once with every read case's events."""
    seeded: set[str] = set()

    def get(backend: str):
        world = worlds(backend, "read")
        if backend not in seeded:
            seeded.add(backend)
            for case in READ_CASES:
                if case.seed:
                    response = world.client.post("/api/v1/events", data=encode_item(case.seed),
                                                 headers={**world.ingest_headers, "Content-Type": "application/json"})
                    body = response.get_json(silent=True) or {}
                    if body.get("accepted") != len(case.seed):   # blamed on the case's own tests
                        world.seed_failures[case.id] = f"its seed events were not all stored: {str(body)[:400]}"
            world.refresh()
        return world
    return get


def formula_cells(body: bytes) -> list[str]:
    """CSV cells a spreadsheet would run: after the leading blanks it ignores (spaces, tabs, line
    breaks, no-break and ideographic spaces), a formula sign in any width (= + - @, ＝ ＋ － ＠)."""
    import csv
    import io
    import unicodedata
    bad = []
    for row in csv.reader(io.StringIO(body.decode("utf-8", "replace"), newline="")):
        for cell in row:
            if cell.startswith("'"):
                continue
            lead = unicodedata.normalize("NFKC", cell).lstrip(" \t\r\n\u00a0\u3000\u2007\u202f")
            if lead[:1] in ("=", "+", "-", "@") and cell:
                bad.append(f"the CSV cell {cell[:40]!r} would run as a formula")
    return bad


def _trail_count(world) -> int:
    world.refresh()
    return world.services.trail.count()


@pytest.mark.parametrize("case,route", list(_read_params()))
@pytest.mark.parametrize("backend", _backend_params())
def test_read_case(backend, case: Case, route: ReadRoute, read_world_factory, request):
    world = read_world_factory(backend)
    problems = check_read(world, case, route, request.node.name)
    assert not problems, f"{case.file} ({case.title}) on {route.name}/{backend}:\n  " + "\n  ".join(problems)


def check_read(world, case: Case, route: ReadRoute, test_id: str) -> list[str]:
    """Send the case to `route` and return every way the answers break the case's promises."""
    if case.id in world.seed_failures:
        return [world.seed_failures[case.id]]
    role = case.role if can(case.role, route.permission) else "administrator"
    reader = world.persona(role)
    problems: list[str] = []
    for url, query in route.requests(case):
        before = _trail_count(world) if case.trail and route.judges(case) else 0
        response = reader.get(url, query_string=query)
        body, content_type, status = response.get_data(), response.content_type or "", response.status_code
        where = f"{url} as {role} -> {status}"
        if status >= 500:
            problems.append(f"{where}: a server error: {body[:300]!r}")
            continue
        judged = route.judges(case)
        # a page shows the error inline and answers 400 too
        shown_error = not route.api and b'class="error query-error"' in body
        if shown_error and status != 400:
            problems.append(f"{where}: the page shows a query error but answers {status}")
        effective = status
        if judged and case.status and not any(s == effective or s == f"{effective // 100}xx" for s in case.status):
            problems.append(f"{where}: expected {', '.join(map(str, case.status))}")
        if route.api and status >= 400:
            error = (response.get_json(silent=True) or {}).get("error")
            if not isinstance(error, dict) or not error.get("message"):
                problems.append(f"{where}: an API error that is not JSON {{'error': {{'message'}}}}: {body[:200]!r}")
            elif judged and case.position and status == 400 and not isinstance(error.get("position"), int):
                problems.append(f"{where}: the error names no position: {error}")
        if judged and not route.api and case.position and effective == 400 and b"^ position" not in body:
            problems.append(f"{where}: the page shows no error position")
        shown = scan.answer_hits(body, content_type, case.never_in_answers)
        if shown:
            problems.append(f"{where}: shown: {shown}")
        if "html" in content_type:
            raw = [s for s in case.not_raw_in_html if s.encode() in body]
            if raw:
                problems.append(f"{where}: unescaped in the HTML: {raw}")
            flat: list[str] = []
            scan._flatten(case.seed, flat)
            seeded = [s for s in case.not_raw_in_html if any(s in v for v in flat)]
            if route.name == "page-event" and seeded and not any(
                    s in html.unescape(body.decode("utf-8", "replace")) for s in seeded):
                problems.append(f"{where}: none of the payloads is on the event page at all (check proves nothing)")
        if case.csv_safe and "csv" in content_type:
            problems += [f"{where}: {p}" for p in formula_cells(body)]
        if judged and case.trail and effective < 400 and _trail_count(world) <= before:
            problems.append(f"{where}: answered, but nothing was recorded in the reading trail")
    if case.never_on_disk:
        leak = first_leak(world, case.never_on_disk, test_id)
        if leak:
            problems.append(leak)
    return problems


def test_every_case_file_is_valid_and_runs_somewhere():
    """load_cases() validated every file at import; each case also runs on at least one path/route."""
    assert CASES, "no cases in tests/hostile/cases"
    for case in READ_CASES:
        assert any(r.applies(case) for r in READ_ROUTES), f"{case.file}: no read route takes its params or seed"
