"""Properties of the demo traffic generator (app/demo/generator.py)."""

from __future__ import annotations

import importlib
import importlib.util
import ipaddress
import json
import re
import sys
import tracemalloc
import types
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEMO_DIR = ROOT / "app" / "demo"
END = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def _load_generator():
    """Import app.demo.generator; if the app package itself does not import (it may be mid-edit),
    load app/demo as a standalone package: the generator depends on nothing else in app."""
    try:
        return importlib.import_module("app.demo.generator")
    except Exception:
        name = "_platlogs_demo"
        spec = importlib.util.spec_from_file_location(name, DEMO_DIR / "__init__.py",
                                                      submodule_search_locations=[str(DEMO_DIR)])
        pkg = importlib.util.module_from_spec(spec)
        sys.modules[name] = pkg
        spec.loader.exec_module(pkg)
        return importlib.import_module(f"{name}.generator")


gen = _load_generator()


def ts_ms(ev: dict) -> int:
    dt = datetime.strptime(ev["@timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    return int(dt.timestamp() * 1000)


def get(ev: dict, path: str):
    for part in path.split("."):
        if not isinstance(ev, dict) or part not in ev:
            return None
        ev = ev[part]
    return ev


def leaves(obj: dict, prefix: str = ""):
    for k, v in obj.items():
        path = f"{prefix}{k}"
        if isinstance(v, dict) and path != "labels":
            yield from leaves(v, path + ".")
        else:
            yield path, v


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


@pytest.fixture(scope="module")
def schema() -> dict:
    return yaml.safe_load((ROOT / "app" / "events" / "schema.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def sample() -> list[dict]:
    return list(gen.generate(20_000, days=7, seed=42, end=END))


# --- shape and order ------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [0, 1, 7, 99, 100, 1250, 5_000, 20_001])
def test_exact_count(n):
    assert sum(1 for _ in gen.generate(n, days=7, seed=3, end=END)) == n


def test_exact_count_for_many_sizes_seeds_and_windows():
    for k in range(40):
        n, days, seed = 37 * k * k + 11 * k, 1 + k % 9, 1000 + k
        assert sum(1 for _ in gen.generate(n, days=days, seed=seed, end=END)) == n, (n, days, seed)


def test_is_a_lazy_generator():
    it = gen.generate(10_000_000, end=END)
    assert isinstance(it, types.GeneratorType)
    first = next(it)
    assert TS_RE.match(first["@timestamp"])
    it.close()


def test_timestamps_non_decreasing_and_inside_the_window(sample):
    stamps = [ev["@timestamp"] for ev in sample]
    assert all(TS_RE.match(s) for s in stamps)
    ms = [ts_ms(ev) for ev in sample]
    assert ms == sorted(ms)
    start, end = int((END - timedelta(days=7)).timestamp() * 1000), int(END.timestamp() * 1000)
    assert start <= ms[0] and ms[-1] <= end
    per_day = Counter(min(6, (m - start) // 86_400_000) for m in ms)
    assert set(per_day) == set(range(7)), "every day has traffic"
    assert min(per_day.values()) > len(ms) / 7 / 3


def test_days_and_naive_end_means_utc():
    naive = END.replace(tzinfo=None)
    events = list(gen.generate(3_000, days=1, seed=5, end=naive))
    assert events == list(gen.generate(3_000, days=1, seed=5, end=END))
    ms = [ts_ms(ev) for ev in events]
    assert int((END - timedelta(days=1)).timestamp() * 1000) <= ms[0] <= ms[-1] <= int(END.timestamp() * 1000)


def test_bad_arguments():
    with pytest.raises(ValueError):
        list(gen.generate(-1))
    with pytest.raises(ValueError):
        list(gen.generate(10, days=0))


def test_deterministic_for_a_seed_and_different_across_seeds():
    a = list(gen.generate(4_000, seed=7, end=END))
    b = list(gen.generate(4_000, seed=7, end=END))
    c = list(gen.generate(4_000, seed=8, end=END))
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert a != c
    assert [e["@timestamp"] for e in a] != [e["@timestamp"] for e in c]


def test_events_are_independent_dict_trees(sample):
    seen: set[int] = set()
    for ev in sample[:3000]:
        for v in ev.values():
            if isinstance(v, (dict, list)):
                assert id(v) not in seen, "nested objects must not be shared between events"
                seen.add(id(v))


# --- schema ----------------------------------------------------------------------------------------

def test_fields_types_and_enums_follow_the_schema(sample, schema):
    fields, components, types_ = schema["fields"], set(schema["components"]), set(schema["types"])
    for ev in sample:
        assert "id" not in ev.get("event", {}) and "ingested" not in ev.get("event", {})
        for path, value in leaves(ev):
            assert path in fields, f"unknown field {path}"
            spec = fields[path]
            if "enum" in spec:
                assert value in spec["enum"], (path, value)
            kind = spec["type"]
            if kind in ("keyword", "text", "date"):
                assert isinstance(value, str) and value, (path, value)
            elif kind == "long":
                assert isinstance(value, int) and not isinstance(value, bool), (path, value)
            elif kind == "double":
                assert isinstance(value, (int, float)) and not isinstance(value, bool), (path, value)
            elif kind == "ip":
                ipaddress.ip_address(value)
            elif kind == "tags":
                assert isinstance(value, list) and all(isinstance(t, str) for t in value)
            elif kind == "labels":
                assert all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
            elif kind == "changes":
                assert isinstance(value, list) and 0 < len(value) <= 100
                assert all(set(c) == {"field", "old", "new"} for c in value)
        comp, typ = get(ev, "event.component"), get(ev, "event.type")
        assert (comp is None) == (typ is None), "component and type are set together"
        if comp is not None:
            assert comp in components and typ in types_


def test_all_six_components_and_a_realistic_mix(sample, schema):
    comps = Counter(get(ev, "event.component") for ev in sample)
    assert set(comps) - {None} == set(schema["components"])
    share = {k: v / len(sample) for k, v in comps.items()}
    assert 0.05 <= share[None] <= 0.15, "about 10% left for the server's classifier"
    assert share["api"] > share["admin_action"] and share["integration"] > share["error"]
    assert 0.15 <= share["user_activity"] <= 0.35 and 0.15 <= share["integration"] <= 0.35
    levels = Counter(ev["log"]["level"] for ev in sample)
    assert levels["info"] > len(sample) / 2 and levels["debug"] and levels["warning"] and levels["critical"]


def test_unclassified_events_still_carry_their_signal(sample):
    unclassified = [ev for ev in sample if get(ev, "event.component") is None]
    kinds = Counter("http" if "http" in ev else "error" if "error" in ev else get(ev, "actor.type")
                    for ev in unclassified)
    assert set(kinds) == {"http", "error", "employee"}


def test_levels_fit_the_events(sample):
    for ev in sample:
        level, comp = ev["log"]["level"], get(ev, "event.component")
        if comp == "error" or ("error" in ev and comp is None):
            assert level in ("error", "critical")
        status = get(ev, "http.response.status_code")
        if status is not None and status >= 500:
            assert level == "error"


# --- stories ---------------------------------------------------------------------------------------

def test_deposit_stories_span_api_integration_and_user_activity(sample):
    by_corr = defaultdict(list)
    for ev in sample:
        if get(ev, "correlation.id"):
            by_corr[get(ev, "correlation.id")].append(ev)
    deposits = {c for c, evs in by_corr.items() if any(get(e, "payment.direction") == "deposit" for e in evs)}
    assert len(deposits) > 50
    statuses = Counter()
    for c in deposits:
        evs = by_corr[c]
        assert {"api", "integration", "user_activity"} <= {get(e, "event.component") for e in evs}, c
        core = [e for e in evs if get(e, "actor.type") == "player"]
        assert len({get(e, "actor.id") for e in core}) == 1
        assert len({get(e, "session.id") for e in core}) == 1
        assert len({get(e, "payment.transaction_id") for e in evs if "payment" in e}) == 1
        tx = get(evs[0], "payment.transaction_id")
        assert tx.startswith("tx-")
        api = next(e for e in evs if get(e, "event.component") == "api")
        assert api["url"]["path"] == "/api/v1/payments/deposit" and api["http"]["request"]["method"] == "POST"
        integ = next(e for e in evs if get(e, "event.component") == "integration")
        assert integ["integration"]["kind"] == "payment" and integ["integration"]["direction"] == "outbound"
        statuses.update(get(e, "payment.status") for e in evs if get(e, "event.type") == "payment")
    assert statuses["completed"] and statuses["declined"]


def test_card_numbers_are_only_ever_masked(sample):
    masked = [get(ev, "payment.card.masked") for ev in sample if get(ev, "payment.card.masked")]
    assert masked and all(re.fullmatch(r"\d{6}\*{6}\d{4}", m) for m in masked)
    assert any("******" in ev["message"] for ev in sample), "some messages mention a (masked) card"


# 13-19 digits, also when split by single spaces or dashes as card numbers often are
PAN_LIKE = re.compile(r"(?<!\d)\d(?:[ -]?\d){12,18}(?!\d)")


@pytest.mark.parametrize("seed", [42, 1, 2])
def test_no_luhn_valid_digit_run_anywhere(seed):
    for ev in gen.generate(20_000, seed=seed, end=END):
        text = json.dumps(ev, ensure_ascii=False)
        for run in PAN_LIKE.findall(text):
            digits = re.sub(r"\D", "", run)
            assert not luhn_ok(digits), (run, ev)


def test_game_rounds_have_provider_callbacks(sample):
    rounds = [ev for ev in sample if get(ev, "event.action") == "game_round"]
    assert len(rounds) > 500
    callbacks = {get(ev, "game.round_id") for ev in sample
                 if get(ev, "event.component") == "integration" and get(ev, "game.round_id")}
    providers = Counter(get(ev, "game.provider") for ev in rounds)
    assert len(providers) >= 4
    for ev in rounds:
        g = ev["game"]
        assert g["bet"] > 0 and g["win"] >= 0 and g["round_id"] in callbacks
    opened = {get(ev, "correlation.id") for ev in sample if get(ev, "event.action") == "game_session_open"}
    assert {get(ev, "correlation.id") for ev in rounds} & opened


def test_withdrawals_are_decided_by_employees(sample):
    requested = {get(ev, "correlation.id") for ev in sample if get(ev, "event.action") == "withdrawal_requested"}
    decided = [ev for ev in sample if get(ev, "event.action") in ("withdrawal_approved", "withdrawal_rejected")]
    assert decided
    for ev in decided:
        assert ev["actor"]["type"] == "employee" and re.fullmatch(r"e-\d{3}", ev["actor"]["id"])
        assert get(ev, "event.component") in ("admin_action", None)
        assert ev["changes"][0]["old"] == "pending"
        assert get(ev, "correlation.id") in requested


def test_profile_changes_record_old_and_new(sample):
    changes = [ev for ev in sample if get(ev, "event.type") == "profile_change"
               and get(ev, "event.component") == "user_activity"]
    assert {ev["changes"][0]["field"] for ev in changes} >= {"email", "phone", "deposit_limit"}
    assert all(c["old"] != c["new"] for ev in changes for c in ev["changes"])


def test_player_ids_and_addresses(sample):
    for ev in sample:
        if get(ev, "actor.type") == "player":
            assert re.fullmatch(r"p-\d{6}", ev["actor"]["id"])
        for path in ("actor.ip", "source.ip"):
            ip = get(ev, path)
            if ip:
                assert any(ipaddress.ip_address(ip) in ipaddress.ip_network(net)
                           for net in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"))


def test_hostile_but_legit_strings_are_present(sample):
    names = {get(ev, "actor.name") for ev in sample} | {get(ev, "target.name") for ev in sample}
    assert "<script>alert(1)</script>" in names
    names.discard(None)
    assert "李雷" in names and "Zoë Ångström" in names
    assert any("'" in n for n in names) and any('"' in n for n in names)
    assert any('"' in ev["message"] for ev in sample)


# --- incidents -------------------------------------------------------------------------------------

def _max_in_window(ms: list[int], window: int) -> int:
    ms, best, lo = sorted(ms), 0, 0
    for hi in range(len(ms)):
        while ms[hi] - ms[lo] > window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


@pytest.mark.parametrize("n,days", [(20_000, 7), (1_500, 1)])
def test_brute_force_burst(n, days, sample):
    events = sample if n == 20_000 else list(gen.generate(n, days=days, seed=42, end=END))
    failed = defaultdict(list)
    for ev in events:
        if get(ev, "event.action") == "login_failed":
            assert get(ev, "event.outcome") == "failure"
            failed[get(ev, "actor.ip")].append(ev)
    _, evs = max(failed.items(), key=lambda kv: _max_in_window([ts_ms(e) for e in kv[1]], 600_000))
    assert _max_in_window([ts_ms(e) for e in evs], 600_000) >= 20
    assert len({get(e, "actor.id") for e in evs}) >= 3, "several accounts attacked"


@pytest.mark.parametrize("n,days", [(20_000, 7), (1_500, 1)])
def test_provider_outage(n, days, sample):
    events = sample if n == 20_000 else list(gen.generate(n, days=days, seed=42, end=END))
    timeouts = defaultdict(list)
    for ev in events:
        if get(ev, "integration.status") == "timeout":
            timeouts[ev["integration"]["provider"]].append(ts_ms(ev))
    provider, ms = max(timeouts.items(), key=lambda kv: len(kv[1]))
    assert len(ms) >= 10
    assert max(ms) - min(ms) <= 75 * 60_000, "the outage is one window of about 30-60 minutes"
    assert int(END.timestamp() * 1000) - min(ms) <= 86_400_000, "in the last day"
    errors = [ev for ev in events if get(ev, "error.type") and min(ms) <= ts_ms(ev) <= max(ms)
              and provider in get(ev, "error.message")]
    assert errors and all(get(e, "error.stack_trace") for e in errors)


def test_error_spike_after_deploy(sample):
    deploys = [ev for ev in sample if get(ev, "event.type") == "service_lifecycle" and get(ev, "event.action") == "deploy"]
    assert deploys
    errors = [ev for ev in sample if get(ev, "event.type") == "system_error"]
    spikes = []
    for d in deploys:
        t0, svc = ts_ms(d), d["service"]["name"]
        after = [e for e in errors if e["service"]["name"] == svc and t0 <= ts_ms(e) <= t0 + 30 * 60_000]
        spikes.append(len(after))
    assert max(spikes) >= 20
    assert any(get(ev, "event.action") == "rollback" for ev in sample)


# --- resources -------------------------------------------------------------------------------------

def test_streams_with_bounded_memory():
    tracemalloc.start()
    try:
        for _ in gen.generate(150_000, days=1, end=END):
            pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 40 * 2**20, f"peak {peak / 2**20:.1f} MiB"
