"""What every system shares: the data file, the seven queries, the answers and how they are compared."""
from __future__ import annotations

import os
import re
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
BATCH = 5000
# The seven keyword fields every system indexes (the project indexes them and more): the two exact
# lookup keys and the five facets. None of them is filled or changed by the project's classifier or
# redaction, so every system holds the same values (event.component and event.type are filled by the
# classifier for the ~10 % of demo events that lack them: a peer would count those differently).
KEYWORDS = {
    "actor.id": "actor_id",
    "correlation.id": "correlation_id",
    "log.level": "level",
    "service.name": "service",
    "event.outcome": "outcome",
    "actor.type": "actor_type",
    "integration.provider": "provider",
}
FACETS = ("log.level", "service.name", "event.outcome", "actor.type", "integration.provider")
FACET_SIZE = 10
_WORD = re.compile(r"[^\W_]+", re.UNICODE)   # letters and digits: the token rule of FTS5's unicode61 and tantivy
# the exact keys a free word is also looked up among in the project (whole values, punctuation dropped)
_KEYS = ("event.id", "actor.id", "target.id", "correlation.id", "session.id", "payment.transaction_id", "game.round_id")


# -- the data file ------------------------------------------------------------------------

def data_end(today: datetime | None = None) -> datetime:
    """The file's events end at the last UTC midnight: recent data, as a live store holds."""
    now = today or datetime.now(timezone.utc)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def data_file(events: int, seed: int, directory: Path | None = None) -> tuple[Path, int]:
    """(path, end_ms) of the NDJSON file of `events` demo events over 30 days, made once and kept
    under var/bench/ (keyed by size, seed and end day)."""
    from app.demo.generator import generate
    end = data_end()
    directory = directory or ROOT / "var" / "bench"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"compare-{events}-s{seed}-{end:%Y%m%d}.ndjson"
    if not path.exists():
        started = time.perf_counter()
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as fh:
            for event in generate(events, days=30, seed=seed, end=end - timedelta(milliseconds=1)):
                fh.write(orjson.dumps(event) + b"\n")
        tmp.rename(path)
        print(f"data: wrote {path} in {time.perf_counter() - started:.0f} s", flush=True)
    return path, int(end.timestamp() * 1000)


def get_path(event: dict, dotted: str):
    node = event
    for part in dotted.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def iso_ms(text: str, _cache: dict = {}) -> int:  # noqa: B006 (a per-minute cache)
    """Epoch ms of '2026-11-01T19:22:55.449Z' (the generator's form), fast: the minute is cached."""
    minute = text[:16]
    base = _cache.get(minute)
    if base is None:
        if len(_cache) > 100_000:
            _cache.clear()
        base = _cache[minute] = int(datetime.fromisoformat(minute + ":00+00:00").timestamp()) * 1000
    rest = text[17:].rstrip("Z")
    return base + int(round(float(rest) * 1000))


_EMPTY: dict = {}


def flat_row(event: dict) -> tuple:
    """(ts ms, message, the seven keyword values in KEYWORDS' order): what the peers index.
    Spelled out rather than looked up by path: this is the peers' per-event Python work."""
    get = event.get
    actor = get("actor") or _EMPTY
    row = (iso_ms(event["@timestamp"]), get("message"), actor.get("id"), (get("correlation") or _EMPTY).get("id"),
           (get("log") or _EMPTY).get("level"), (get("service") or _EMPTY).get("name"),
           (get("event") or _EMPTY).get("outcome"), actor.get("type"), (get("integration") or _EMPTY).get("provider"))
    if all(type(v) is str or v is None for v in row[1:]):
        return row
    return (row[0], *(v if v is None or isinstance(v, str) else str(v) for v in row[1:]))


def read_batches(path: Path, size: int = BATCH):
    """The file's lines in lists of `size` (bytes, newline stripped)."""
    batch: list[bytes] = []
    with path.open("rb") as fh:
        for line in fh:
            line = line.rstrip(b"\n")
            if line:
                batch.append(line)
                if len(batch) == size:
                    yield batch
                    batch = []
    if batch:
        yield batch


# -- the queries --------------------------------------------------------------------------

@dataclass
class Query:
    key: str           # a..g, the rows
    label: str
    kind: str          # term | word | phrase | all
    start_ms: int
    end_ms: int
    field: str | None = None
    value: str | None = None          # term value, word, or phrase ("two words")
    facets: bool = False              # five facets + hourly histogram
    size: int = 50

    @property
    def words(self) -> list[str]:
        return _WORD.findall(self.value.lower()) if self.value else []

    def platlogs(self) -> str:
        """The query in the project's language. Words and phrases in the message, as the peers
        index them (a bare word in the project searches every value of an event)."""
        if self.kind == "term":
            return f'{self.field}:"{self.value}"'
        if self.kind == "word":
            return f"message:{self.value}"
        if self.kind == "phrase":
            return f'message:"{self.value}"'
        return ""


def pick_values(path: Path, end_ms: int) -> dict:
    """Query values chosen from the file, deterministically (cached beside it):
    - actor.id: the most frequent value (a busy service or player: many events to count);
    - correlation.id: the most frequent value (ties: the smallest);
    - rare word: an all-ASCII-letter word of 5+ letters, always in lower case and in no name or
      e-mail, in 3..20 events, nearest 5 (ties: the smallest); when none qualifies (the
      generator's vocabulary is small), any such message word in the number of events nearest 5;
    - common word: such a word in the number of events nearest 8 % of them;
    - phrase: two adjacent words of 4+ letters (lower case, in no name) whose pair is in the number
      of events nearest 2 %.
    A word qualifies only where every system must count it the same: it never occurs in
    error.message nor as the whole value of an id key (the project's free word searches those
    too), and for the phrase, the lower-cased substring "w1 w2" occurs in exactly the events
    whose message has the tokens adjacent (the project checks phrases as substrings, the others
    as token positions). The counts are then checked against each other in every run anyway."""
    cache = path.with_suffix(".picks5.json")
    if cache.exists():
        return orjson.loads(cache.read_bytes())
    actors: Counter = Counter()
    correlations: Counter = Counter()
    in_message: Counter = Counter()
    bad: set[str] = set()
    capital: set[str] = set()   # words written with capitals somewhere (names, sentence starts)
    pairs: Counter = Counter()
    substrings: dict[str, int] = {}
    total = 0
    with path.open("rb") as fh:
        for line in fh:
            event = orjson.loads(line)
            total += 1
            actor, corr = get_path(event, "actor.id"), get_path(event, "correlation.id")
            if isinstance(actor, str):
                actors[actor] += 1
            if isinstance(corr, str):
                correlations[corr] += 1
            message = event.get("message") or ""
            tokens = _WORD.findall(message)
            lowered = [t.lower() for t in tokens]
            capital.update(t.lower() for t in tokens if not t.islower())
            for tok in set(lowered):
                if tok.isascii() and tok.isalpha() and len(tok) >= 2:
                    in_message[tok] += 1
            for pair in {f"{a} {b}" for a, b in zip(lowered, lowered[1:])}:
                pairs[pair] += 1
            # what else the project's free word finds: error.message's words, an id key's whole value
            other = get_path(event, "error.message")
            if isinstance(other, str):
                bad.update(t.lower() for t in _WORD.findall(other))
            for key in ("actor.name", "actor.email", "target.name"):   # no names as the rare word
                value = get_path(event, key)
                if isinstance(value, str):
                    capital.update(t.lower() for t in _WORD.findall(value))
            for key in _KEYS:
                value = get_path(event, key)
                if value is not None:
                    bad.add("".join(_WORD.findall(str(value))).lower())
    words = {w: n for w, n in in_message.items() if w not in bad}
    rare = [w for w, n in words.items() if 3 <= n <= 20 and len(w) >= 5 and w not in capital] or list(words)
    rare.sort(key=lambda w: (abs(words[w] - 5), w))
    common = [w for w in words if len(w) >= 5]
    common.sort(key=lambda w: (abs(words[w] - 0.08 * total), w))
    candidates = [p for p, n in pairs.items() if all(w in words and len(w) >= 4 and w not in capital
                                                     for w in p.split())]
    candidates.sort(key=lambda p: (abs(pairs[p] - 0.02 * total), p))
    phrase = None
    for pair in candidates[:40]:   # the substring check, on the whole file, for the best few
        substrings[pair] = 0
    if substrings:
        with path.open("rb") as fh:
            for line in fh:
                event = orjson.loads(line)
                texts = [t.lower() for t in (event.get("message"), get_path(event, "error.message"))
                         if isinstance(t, str)]
                for pair in substrings:
                    if any(pair in t for t in texts):
                        substrings[pair] += 1
        phrase = next((p for p in candidates[:40] if substrings[p] == pairs[p]), None)
    picks = {
        "events": total,
        "actor.id": min(actors, key=lambda a: (-actors[a], a)) if actors else None,
        "correlation.id": min(correlations, key=lambda c: (-correlations[c], c)) if correlations else None,
        "rare_word": rare[0] if rare else None,
        "common_word": common[0] if common else None,
        "phrase": phrase,
        "expected": {"actor.id": actors.most_common(1)[0][1] if actors else 0,
                     "rare_word": words.get(rare[0]) if rare else 0,
                     "common_word": words.get(common[0]) if common else 0,
                     "phrase": pairs.get(phrase) if phrase else 0},
    }
    cache.write_bytes(orjson.dumps(picks, option=orjson.OPT_INDENT_2))
    return picks


def make_queries(picks: dict, end_ms: int) -> list[Query]:
    start = end_ms - 30 * DAY_MS - 1   # the generator's span is closed: its first event is at end - 1 ms - 30 days
    day = end_ms - DAY_MS
    return [
        Query("a", "exact `actor.id`, newest 50 + count", "term", start, end_ms, "actor.id", picks["actor.id"]),
        Query("b", "exact `correlation.id`", "term", start, end_ms, "correlation.id", picks["correlation.id"]),
        Query("c", f"rare word (`{picks['rare_word']}`), 30 days", "word", start, end_ms, value=picks["rare_word"]),
        Query("d", f"common word (`{picks['common_word']}`) + 5 facets + hourly histogram, 30 days", "word",
              start, end_ms, value=picks["common_word"], facets=True),
        Query("e", "all events + 5 facets + hourly histogram, 30 days", "all", start, end_ms, facets=True),
        Query("f", f"two-word phrase (`\"{picks['phrase']}\"`), 30 days", "phrase", start, end_ms,
              value=picks["phrase"]),
        Query("g", f"common word (`{picks['common_word']}`) + facets + histogram, 24 h", "word", day, end_ms,
              value=picks["common_word"], facets=True),
    ]


# -- answers ------------------------------------------------------------------------------

@dataclass
class Answer:
    count: int
    hits: list[int] = field(default_factory=list)          # the hits' timestamps (ms), newest first
    facets: dict[str, list[list]] = field(default_factory=dict)  # field -> [[value, count], ...]
    histogram: dict[str, int] = field(default_factory=dict)      # bucket start ms (as text) -> count, no zeros
    exact: bool = True

    def to_json(self) -> dict:
        return asdict(self)


def top_values(pairs, size: int = FACET_SIZE) -> list[list]:
    """Facet values as every system reports them: count descending, then value."""
    cleaned = [[v if isinstance(v, str) else str(v), int(n)] for v, n in pairs if v is not None and n]
    cleaned.sort(key=lambda p: (-p[1], p[0]))
    return cleaned[:size]


def histogram(pairs) -> dict[str, int]:
    return {str(int(start)): int(n) for start, n in pairs if n}


def facet_view(values: list[list]) -> tuple:
    """What must agree in a top-10 facet whatever the tie-break: the counts, and the values whose
    count is above the last one shown (values tied with the last may differ)."""
    counts = [n for _, n in values]
    floor = counts[-1] if counts else 0
    return tuple(counts), tuple(sorted(v for v, n in values if n > floor))


def disagreements(query: Query, answers: dict[str, Answer]) -> list[str]:
    """One line per system whose answer differs from the first system's."""
    exact = {name: a for name, a in answers.items() if a is not None and a.exact}
    if len(exact) < 2:
        return []
    names = list(exact)
    base_name, base = names[0], exact[names[0]]
    problems = []
    for name in names[1:]:
        other = exact[name]
        if other.count != base.count:
            problems.append(f"count: {base_name} {base.count:,} vs {name} {other.count:,}")
        if other.hits != base.hits:
            problems.append(f"hit times: {base_name} {len(base.hits)} hits vs {name} {len(other.hits)} "
                            f"(first difference at #{_first_diff(base.hits, other.hits)})")
        if query.facets:
            for f in FACETS:
                if facet_view(base.facets.get(f, [])) != facet_view(other.facets.get(f, [])):
                    problems.append(f"facet {f}: {base_name} {base.facets.get(f)} vs {name} {other.facets.get(f)}")
            if base.histogram != other.histogram:
                problems.append(f"histogram: {base_name} {sum(base.histogram.values()):,} in "
                                f"{len(base.histogram)} buckets vs {name} {sum(other.histogram.values()):,} in "
                                f"{len(other.histogram)} buckets")
    return problems


def _first_diff(a: list, b: list) -> int:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


# -- timing and memory ---------------------------------------------------------------------

def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def time_query(run, repeat: int, warmups: int = 3) -> tuple[Answer, list[float]]:
    """(the answer, per-run milliseconds) of `run()` after `warmups` unmeasured runs."""
    answer = None
    for _ in range(warmups):
        answer = run()
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        answer = run()
        timings.append((time.perf_counter() - started) * 1000)
    return answer, timings


def peak_rss_mb(pids: list[int]) -> float:
    """The largest peak resident set among `pids` (Linux VmHWM), in MB; elsewhere psutil's current RSS."""
    largest = 0.0
    for pid in pids:
        try:
            match = re.search(r"VmHWM:\s+(\d+)", Path(f"/proc/{pid}/status").read_text())
            largest = max(largest, int(match.group(1)) / 1024)
        except (OSError, AttributeError):
            try:
                import psutil
                largest = max(largest, psutil.Process(pid).memory_info().rss / 2**20)
            except Exception:  # noqa: BLE001 (gone, or no psutil)
                continue
    return largest


def tree_pids(pid: int) -> list[int]:
    """`pid` and its descendants (psutil, or /proc on Linux without it)."""
    try:
        import psutil
        return [pid, *(c.pid for c in psutil.Process(pid).children(recursive=True))]
    except ImportError:
        pass
    except Exception:  # noqa: BLE001 (gone)
        return [pid]
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        try:
            todo += [int(c) for c in Path(f"/proc/{current}/task/{current}/children").read_text().split()]
        except OSError:
            pass
    return out


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of one process so far."""
    try:
        import psutil
        times = psutil.Process(pid).cpu_times()
        return times.user + times.system
    except ImportError:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            return None
    except Exception:  # noqa: BLE001 (gone)
        return None


def ram_bytes() -> int:
    try:
        import psutil
        return psutil.virtual_memory().total
    except ImportError:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def du_bytes(path: Path) -> int:
    """Bytes the directory takes on disk (allocated blocks, as du counts)."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            total += st.st_blocks * 512
    return total
