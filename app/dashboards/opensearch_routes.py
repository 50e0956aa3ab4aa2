"""The back office's routes (app/rollups/model.py `route`: url.path with its ids folded,
/backoffice/api/players/p-000123 -> /backoffice/api/players/*) for OpenSearch Dashboards: a
painless scripted field on the exported index pattern, written from model.route's own constants.

    ROUTE_FIELD                        the scripted field's name in the index pattern (`url.route`)
    route_script()           -> str    its painless source
    scripted_fields()        -> list   the index pattern's `fields` entries (OSD's field spec)
    folded_measure(panel)    -> str|None  the measure whose fold the back office groups the panel by
    grouping_field(panel, by) -> str   what the panel's terms aggregation groups by: ROUTE_FIELD
                                       where the back office folds `by`, else `by` itself

Why a scripted field: the events carry url.path only, and indices already written cannot gain a
field without a reindex; a script reads what is stored. OSD writes a terms aggregation on a
scripted field as a `script` terms aggregation (with value_type), puts the field into every
search's script_fields, and a click on a bucket becomes a script filter that wraps the source in
a lambda — so the source is a plain block of statements ending in `return`, with no functions of
its own (a function cannot be declared inside a lambda).

One definition: the segment count and length (ROUTE_SEGMENTS, ROUTE_SEGMENT_MAX) and the
version pattern (model.ROUTE_VERSION, as a painless regex) are model's; "has a digit" is Python's
str.isdigit, written out as the code point ranges it is true for (this interpreter's Unicode
database), so a Unicode digit (Arabic-Indic, superscript, circled, fullwidth) folds on the node
exactly as in the back office, whatever Java's Character.isDigit says (so the exported files
follow the exporting Python's Unicode version, as model.route does: 3.11 has Unicode 14). Lengths
are counted in code points, as Python's len. tests/test_dashboards_export_routes.py runs the
script on the node over a table of paths and compares each answer with model.route.

A path over 8,191 UTF-16 units has no doc value (the index template's ignore_above), so the
script reads it from _source then; an event without url.path has no route (null: no bucket).
"""

from __future__ import annotations

import json
from functools import lru_cache

from ..query.fields import resolve
from ..rollups.model import (
    FOLDS,
    MEASURES,
    ROUTE_SEGMENT_MAX,
    ROUTE_SEGMENTS,
    ROUTE_VERSION,  # (model.route's own pattern: one definition)
    route,
)
from .definitions import DashboardError, Panel
from .rollup_values import folded_measure as top_folded_measure

ROUTE_FIELD = "url.route"  # not a schema field (tested): OSD would let a scripted field hide a mapped one
SOURCE_FIELD = "url.path"


def folded_measure(panel: Panel) -> str | None:
    """The measure (model.MEASURES, FOLDS) by whose fold the back office groups this panel's `by`,
    else None — as app/dashboards/panels.py and rollup_values.py decide: a percentiles panel of a
    folded measure grouped by its group field (the API's slowest routes), a top panel by a folded
    measure's group field (busiest routes: rollup_values.folded_measure itself). Other kinds group
    by the raw values there, so here too (tests/test_dashboards_export.py holds the two to the same
    panels by the back office's note)."""
    if panel.by is None:
        return None
    if panel.kind == "percentiles":
        return panel.field if panel.field in FOLDS and MEASURES[panel.field][0] == panel.by else None
    return top_folded_measure(panel)  # (None but for a top panel)


def grouping_field(panel: Panel, by: str) -> str:
    """The index-pattern field a terms aggregation on `by` uses for this panel: the route's
    scripted field where the back office folds `by`, else `by` itself (its canonical name)."""
    measure = folded_measure(panel)
    if measure is None:
        return resolve(by).name
    if FOLDS[measure] is not route or MEASURES[measure][0] != SOURCE_FIELD:
        raise DashboardError(
            f"the back office folds {by} by a function with no OpenSearch Dashboards form", "by", panel=panel.id
        )
    return ROUTE_FIELD


@lru_cache(maxsize=1)
def digit_ranges() -> tuple[tuple[int, int], ...]:
    """The code points str.isdigit is true for, as inclusive (first, last) runs, ascending."""
    runs: list[list[int]] = []
    for code in range(0x110000):
        if chr(code).isdigit():
            if runs and runs[-1][1] == code - 1:
                runs[-1][1] = code
            else:
                runs.append([code, code])
    return tuple((a, b) for a, b in runs)


def _regex_literal(pattern: str) -> str:
    """A painless regex literal of a Python pattern (the version pattern: plain syntax both read alike)."""
    return "/" + pattern.replace("/", "\\/") + "/"


def _int_rows(numbers: list[int], per_row: int = 12) -> str:
    rows = [", ".join(str(n) for n in numbers[i : i + per_row]) for i in range(0, len(numbers), per_row)]
    return ",\n            ".join(rows)


@lru_cache(maxsize=1)
def route_script() -> str:
    """The painless source of the route of an event's url.path (null without one)."""
    digits = [n for run in digit_ranges() if run[1] >= 128 for n in run]  # ASCII's 0-9: tested inline
    last = ROUTE_SEGMENTS  # model.route splits at most ROUTE_SEGMENTS + 1 times: pieces 0..ROUTE_SEGMENTS
    return f"""// Platform Logs: the route of url.path, as the back office groups it (app/rollups/model.py route).
// Generated by `platlogs dashboards export --opensearch-dashboards`; do not edit here.
// A segment with a digit (but a version: {ROUTE_VERSION.pattern}) or over {ROUTE_SEGMENT_MAX} characters is *;
// past {ROUTE_SEGMENTS} segments, one *.
String p = null;
if (doc.containsKey('{SOURCE_FIELD}') && doc['{SOURCE_FIELD}'].size() > 0) {{
  p = doc['{SOURCE_FIELD}'].value;
}} else if (params['_source'] instanceof Map) {{
  def url = params['_source']['url'];
  if (url instanceof Map && url['path'] instanceof String) {{
    p = url['path'];
  }}
}}
if (p == null) {{
  return null;
}}
int[] digits = null;
StringBuilder out = new StringBuilder();
int n = p.length();
int start = 0;
int piece = 0;
while (true) {{
  int slash = p.indexOf('/', start);
  int end = slash < 0 ? n : slash;
  if (piece == {last} && slash >= 0) {{
    out.append('*');
    break;
  }}
  String segment = p.substring(start, end);
  boolean fold = p.codePointCount(start, end) > {ROUTE_SEGMENT_MAX};
  if (!fold) {{
    boolean digit = false;
    int i = start;
    while (i < end && !digit) {{
      int c = p.codePointAt(i);
      i += Character.charCount(c);
      if (c < 128) {{
        digit = c >= 48 && c <= 57;
      }} else {{
        if (digits == null) {{
          // the code points Python's str.isdigit is true for, but ASCII's: inclusive runs (first, last)
          digits = new int[] {{
            {_int_rows(digits)}
          }};
        }}
        for (int r = 0; r < digits.length; r += 2) {{
          if (c < digits[r]) {{
            break;
          }}
          if (c <= digits[r + 1]) {{
            digit = true;
            break;
          }}
        }}
      }}
    }}
    fold = digit && !(segment ==~ {_regex_literal(ROUTE_VERSION.pattern)});
  }}
  out.append(fold ? '*' : segment);
  if (slash < 0) {{
    break;
  }}
  out.append('/');
  start = slash + 1;
  piece += 1;
}}
return out.toString();
"""


def scripted_fields() -> list[dict]:
    """The index pattern's `fields`: the route, as OSD's field spec. No `readFromDocValues` (nor
    any mapped field): OSD then fetches the mapped fields when it first opens the pattern and keeps
    the scripted ones beside them (index_patterns.ts isFieldRefreshRequired / refreshFieldSpecMap)."""
    return [
        {"name": ROUTE_FIELD, "type": "string", "count": 0, "scripted": True, "script": route_script(), "lang": "painless"}
    ]


def fields_json() -> str:
    return json.dumps(scripted_fields(), separators=(",", ":"))
