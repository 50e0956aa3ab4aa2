"""The shipped dashboards (dashboards/*.yaml) as OpenSearch Dashboards saved objects, for people
who read the same cluster in OSD: `platlogs dashboards export --opensearch-dashboards`.

    export_objects(dashboard, prefix)      -> list[dict]   one dashboard's saved objects
    to_ndjson(objects)                     -> str          what `_import` takes
    exports(dashboards, prefix)            -> {file name: NDJSON text}
    write_exports(out_dir, prefix, dashboards=None) -> list[Path]

One NDJSON file a dashboard (`<dashboard id>.ndjson`), each complete on its own: the index
pattern on the read alias `<prefix>-events` (time field @timestamp; its field list holds only the
scripted `url.route` — opensearch_routes.py —, OSD reads the mapped fields when it first opens
it), one visualization (or saved search, for an `events` panel) a
panel, and the dashboard. So one dashboard can be imported, or left out, alone; the index
pattern is the same object (same id) in every file and an import with overwrite=true replaces it.

Ids are stable — `<prefix>.<dashboard id>` for a dashboard, `<prefix>.<dashboard id>.<panel id>`
for its panels, `<prefix>.events` for the index pattern (`.` cannot occur in a dashboard or panel
id, so two names never meet) — so importing again overwrites instead of duplicating.
The panels' queries are compiled to DSL by the app's own compiler (opensearch_visuals.py).
"""

from __future__ import annotations

import json
from pathlib import Path

from .definitions import Dashboard, Panel, load_dashboards
from .opensearch_routes import fields_json
from .opensearch_visuals import INDEX_REF, visual

DEFAULT_PREFIX = "platlogs"  # app/storage/opensearch.py: the store URL's ?prefix= (default platlogs)
OSD_VERSION = "2.19.1"  # the image docker-compose.yml runs; panels are stamped with it
GRID_COLUMNS = 48  # OSD's dashboard grid
WIDTH = {"third": 16, "half": 24, "full": 48}
HEIGHT = {"number": 8, "events": 15}
DEFAULT_HEIGHT = 15
REFRESH_MS = {"off": 0, "30s": 30_000, "1m": 60_000, "5m": 300_000}
# the migration versions OSD 2.x stamps on these types: the objects are already in that shape
MIGRATION = {"index-pattern": "7.6.0", "visualization": "7.10.0", "search": "7.9.3", "dashboard": "7.9.3"}


def _json(value) -> str:
    return json.dumps(value, separators=(",", ":"))  # ASCII: no U+2028 or the like to split a line


def index_pattern_id(prefix: str) -> str:
    return f"{prefix}.events"


def dashboard_object_id(prefix: str, dashboard: Dashboard) -> str:
    return f"{prefix}.{dashboard.id}"


def panel_object_id(prefix: str, dashboard: Dashboard, panel: Panel) -> str:
    return f"{prefix}.{dashboard.id}.{panel.id}"


def _saved(kind: str, object_id: str, attributes: dict, references: list[dict]) -> dict:
    return {
        "type": kind,
        "id": object_id,
        "attributes": attributes,
        "references": references,
        "migrationVersion": {kind: MIGRATION[kind]},
    }


def index_pattern(prefix: str) -> dict:
    """The read alias, its time field, and the scripted fields (the route: opensearch_routes.py) —
    the same object in every file, so importing any one file leaves the route in place."""
    attributes = {"title": f"{prefix}-events", "timeFieldName": "@timestamp", "fields": fields_json()}
    return _saved("index-pattern", index_pattern_id(prefix), attributes, [])


def _search_source(filters: list[dict], prefix: str) -> tuple[str, list[dict]]:
    """searchSourceJSON (the index and every filter's index by reference name) and its references."""
    source = {"query": {"query": "", "language": "kuery"}, "filter": filters, "indexRefName": INDEX_REF}
    refs = [{"name": INDEX_REF, "type": "index-pattern", "id": index_pattern_id(prefix)}]
    refs += [{"name": f["meta"]["indexRefName"], "type": "index-pattern", "id": index_pattern_id(prefix)} for f in filters]
    return _json(source), refs


def _description(dashboard: Dashboard, panel: Panel) -> str:
    parts = [
        panel.description,
        f"Query: {panel.query or '(every event)'}",
        f"From dashboards/{dashboard.id}.yaml (Platform Logs); exported, do not edit here.",
    ]
    return "\n".join(p for p in parts if p)


def panel_object(prefix: str, dashboard: Dashboard, panel: Panel) -> dict:
    """A panel's visualization, or its saved search (an `events` panel)."""
    vis_state, filters = visual(panel)
    source, refs = _search_source(filters, prefix)
    meta = {"searchSourceJSON": source}
    object_id = panel_object_id(prefix, dashboard, panel)
    if vis_state is None:
        columns = [c for c in panel.columns if c != "@timestamp"] or ["_source"]  # Discover shows the time itself
        return _saved(
            "search",
            object_id,
            {
                "title": panel.title,
                "description": _description(dashboard, panel),
                "hits": 0,
                "columns": columns,
                "sort": [["@timestamp", "desc"]],
                "version": 1,
                "kibanaSavedObjectMeta": meta,
            },
            refs,
        )
    return _saved(
        "visualization",
        object_id,
        {
            "title": panel.title,
            "visState": _json(vis_state),
            "uiStateJSON": "{}",
            "description": _description(dashboard, panel),
            "version": 1,
            "kibanaSavedObjectMeta": meta,
        },
        refs,
    )


def layout(dashboard: Dashboard) -> list[dict]:
    """gridData of each panel, in order: left to right, a new row when the next does not fit."""
    x = y = row_height = 0
    out = []
    for i, panel in enumerate(dashboard.panels):
        w, h = WIDTH[panel.width], HEIGHT.get(panel.kind, DEFAULT_HEIGHT)
        if x + w > GRID_COLUMNS:
            x, y, row_height = 0, y + row_height, 0
        out.append({"x": x, "y": y, "w": w, "h": h, "i": str(i + 1)})
        x, row_height = x + w, max(row_height, h)
    return out


def dashboard_object(prefix: str, dashboard: Dashboard, panels: list[dict]) -> dict:
    grid = layout(dashboard)
    panels_json = [
        {
            "version": OSD_VERSION,
            "gridData": cell,
            "panelIndex": cell["i"],
            "embeddableConfig": {},
            "panelRefName": f"panel_{i}",
        }
        for i, cell in enumerate(grid)
    ]
    refs = [{"name": f"panel_{i}", "type": obj["type"], "id": obj["id"]} for i, obj in enumerate(panels)]
    refresh = REFRESH_MS[dashboard.refresh]
    description = " ".join(
        x
        for x in (dashboard.description, f"From dashboards/{dashboard.id}.yaml (Platform Logs): exported, do not edit here.")
        if x
    )
    return _saved(
        "dashboard",
        dashboard_object_id(prefix, dashboard),
        {
            "title": dashboard.title,
            "description": description,
            "hits": 0,
            "panelsJSON": _json(panels_json),
            "optionsJSON": _json({"hidePanelTitles": False, "useMargins": True}),
            "version": 1,
            "timeRestore": True,
            "timeFrom": dashboard.range,
            "timeTo": "now",
            "refreshInterval": {"pause": refresh == 0, "value": refresh},
            "kibanaSavedObjectMeta": {
                "searchSourceJSON": _json({"query": {"query": "", "language": "kuery"}, "filter": []})
            },
        },
        refs,
    )


def export_objects(dashboard: Dashboard, prefix: str = DEFAULT_PREFIX) -> list[dict]:
    """The index pattern, each panel's object and the dashboard (in that order: the referred first)."""
    panels = [panel_object(prefix, dashboard, p) for p in dashboard.panels]
    return [index_pattern(prefix), *panels, dashboard_object(prefix, dashboard, panels)]


def to_ndjson(objects: list[dict]) -> str:
    return "".join(_json(obj) + "\n" for obj in objects)


def exports(dashboards: list[Dashboard], prefix: str = DEFAULT_PREFIX) -> dict[str, str]:
    """{file name: NDJSON} of each dashboard."""
    return {f"{d.id}.ndjson": to_ndjson(export_objects(d, prefix)) for d in dashboards}


def default_out_dir() -> Path:
    """opensearch/ in the dashboards' directory (PLATLOGS_DASHBOARDS_DIR or the shipped one)."""
    from .definitions import default_dashboards_dir

    return default_dashboards_dir() / "opensearch"


def write_exports(out_dir=None, prefix: str = DEFAULT_PREFIX, dashboards: list[Dashboard] | None = None) -> list[Path]:
    """Write each dashboard's NDJSON into `out_dir` (dashboards/opensearch/ by default); an
    unchanged file is not rewritten. Raises DashboardError (a bad dashboard file, a query that
    cannot be exported) before writing anything."""
    files = exports(load_dashboards() if dashboards is None else dashboards, prefix)
    out = Path(out_dir or default_out_dir())
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        path = out / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
