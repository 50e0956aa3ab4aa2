"""Provider notes and last recorded statuses in the meta DB (app/meta/providers.py), on SQLite and
PostgreSQL: what people say about a provider, validated before the database sees it."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from app.meta.providers import ProviderNotes, check_annotation

from test_meta_db import meta, meta_url, pg_schema_url  # noqa: F401  (fixtures: SQLite and PostgreSQL)




def test_annotate_then_change(meta):
    notes = ProviderNotes(meta)
    notes.annotate("Play'n GO", check_annotation("Play'n GO", "Games team", "99.9", True, "call Ana"), "mia")
    note = notes.get("Play'n GO")
    assert (note.owner, note.slo_target, note.quiet_at_night, note.note, note.updated_by) == (
        "Games team", 99.9, True, "call Ana", "mia")
    assert note.updated_at.tzinfo is not None
    notes.annotate("Play'n GO", check_annotation("Play'n GO", "", None, False, ""), "olga")
    assert notes.all()["Play'n GO"].as_dict()["slo_target"] is None
    assert notes.get("x" * 300) is None and notes.get("nul\x00") is None


@pytest.mark.parametrize("args, message", [
    (("", "", None, False, ""), "provider: a name is required"),
    (("p" * 257, "", None, False, ""), "provider: at most 256"),
    (("P", "o" * 129, None, False, ""), "owner: at most 128"),
    (("P", "a\x00b", None, False, ""), "owner: contains a NUL"),
    (("P", "", "lots", False, ""), "slo_target: expected a percentage"),
    (("P", "", 0, False, ""), "slo_target: must be above 0"),
    (("P", "", "100.5", False, ""), "slo_target: must be above 0 and at most 100"),
    (("P", "", None, "yes", ""), "quiet_at_night: expected true or false"),
    (("P", "", None, False, "n" * 1001), "note: at most 1000"),
])
def test_bad_annotations_are_refused_naming_the_field(args, message):
    with pytest.raises(ValueError, match=message):
        check_annotation(*args)


def test_states_change_only_when_told(meta):
    notes = ProviderNotes(meta)
    t0 = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
    notes.set_state("CardHub", "up", t0, changed=False)
    notes.set_state("CardHub", "down", t0 + timedelta(minutes=5), changed=True)
    state = notes.states()["CardHub"]
    assert (state.status, state.since) == ("down", t0 + timedelta(minutes=5))
    notes.set_state("CardHub", "down", t0 + timedelta(minutes=9), changed=False)
    state = notes.states()["CardHub"]
    assert (state.since, state.checked_at) == (t0 + timedelta(minutes=5), t0 + timedelta(minutes=9))
