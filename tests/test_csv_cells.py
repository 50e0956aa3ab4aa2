"""CSV exports neutralise every cell a spreadsheet could run as a formula — including those that
start with whitespace, a line break, a no-break space or the fullwidth / small forms of = + - @ —
and the header row; the exported fields are checked like query fields."""
from __future__ import annotations

import csv
import io

import pytest

from app.search.service import safe_cell

RISKY = ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", " =1", "\n=1", "\u00a0=1", "\u3000=1", "＝1+1", "＋1",
         "－1", "＠SUM(A1)", "﹦1", "﹢1", "﹣1", "﹫x", "\u2212" + "1", "\u200b=1", "\ufeff=1", "\x0b=1"]
PLAIN = ["hello", "1+1", "a=b", "é=1", "", "p-1", "２", "'quoted"]


@pytest.mark.parametrize("text", RISKY)
def test_risky_cells_are_prefixed(text):
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("text", PLAIN)
def test_plain_cells_are_left_alone(text):
    assert safe_cell(text) == text


def test_numbers_and_none():
    assert safe_cell(None) == "" and safe_cell(-5) == "'-5" and safe_cell(5) == "5"


WINDOW = {"from": "2026-11-20T00:00:00Z", "to": "2026-11-21T00:00:00Z"}


def test_export_neutralises_cells_and_checks_fields(client, ingest_headers, read_headers):
    events = [{"@timestamp": f"2026-11-20T10:00:0{i}.000Z", "message": text, "event": {"id": f"e-{i}"}}
              for i, text in enumerate([" =cmd|' /C calc'!A0", "＝HYPERLINK(\"http://x\")", "\u00a0@SUM(1)",
                                        "\n=1", "ok"])]
    assert client.post("/api/v1/events", json=events, headers=ingest_headers).json["accepted"] == 5
    body = client.get("/api/v1/export", query_string={"format": "csv", "fields": "event.id,message", **WINDOW},
                      headers=read_headers).get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0] == ["event.id", "message"]
    cells = {row[0]: row[1] for row in rows[1:]}
    assert cells["e-4"] == "ok"
    assert all(cells[f"e-{i}"].startswith("'") for i in range(4)), cells
    for fields, field in [("=1+1", "fields"), ("message,acter.id", "fields"), ('labels.a"b', "fields")]:
        refused = client.get("/api/v1/export", query_string={"format": "csv", "fields": fields, **WINDOW},
                             headers=read_headers)
        assert refused.status_code == 400 and refused.json["error"]["field"] == field, fields
