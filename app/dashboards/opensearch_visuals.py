"""One dashboard panel as an OpenSearch Dashboards (2.x) visualization or saved search: its
`visState` (a vislib chart, a metric or a data table and its aggregations) and the filters its
search source carries. No I/O here; app/dashboards/opensearch_export.py assembles the objects.

Every filter is the panel's query compiled by the app's own compiler (app/query/dsl.py
DSLCompiler), carried as a custom filter `{"query": <DSL>, "meta": {...}}` in the search source,
or as a `filters` aggregation whose input is that DSL (language lucene, query an object: OSD
passes an object through untouched, luceneStringToDsl) — so OSD counts exactly the events the
back office counts, never a re-parse of the query text by another language.

Panel kinds (dashboards/README.md) map to:
  number       metric (count); with ratio_of: a metric split by a `filters` aggregation into
               the panel's count and the ratio_of count (OSD's metric cannot divide)
  timeseries   one series: vertical bars (`histogram`), several: `line`; a date_histogram, and
               the series as a `filters` aggregation
  stacked      stacked bars: date_histogram and a `terms` split of `by` (size `limit`, other bucket)
  top          data table: `terms` of `by`, size `limit`, by count
  percentiles  data table: `percentiles` and `max` of `field`, rows a `terms` of `by` by the max
               (OSD's percentiles are t-digest estimates over every event, not nearest rank)
  status       data table: `terms` of `by`, each split into failures / all by a `filters`
               aggregation; the newest `status_field` (top hit) and when
  events       a saved search: the columns, newest first

A top or percentiles panel whose groups the back office folds (url.path by route: the API's busiest
and slowest routes) groups by the route's scripted field instead (opensearch_routes.py).
"""

from __future__ import annotations

import json

from ..events.failures import FAILURE_QUERY
from ..query import parse
from ..query.dsl import DSLCompiler
from ..query.fields import resolve
from .definitions import DashboardError, Panel
from .opensearch_routes import ROUTE_FIELD, grouping_field

# two instants years apart: a query whose DSL differs between them holds a relative time ("now-1h")
_NOWS = (1_700_000_000_000, 1_900_000_000_000)
INDEX_REF = "kibanaSavedObjectMeta.searchSourceJSON.index"


def compiled(query: str, panel: str | None = None, field: str = "query") -> dict:
    """The DSL the back office runs for `query` (a reader who sees personal data: OSD's users are
    the cluster's own). A query with a relative time cannot be frozen into a saved object."""
    node = parse(query)
    first, second = (DSLCompiler(now, inside_personal=True).compile(node) for now in _NOWS)
    if first != second:
        raise DashboardError(
            "a query with a relative time (now-…) cannot be exported to OpenSearch Dashboards: "
            "its saved filter would be frozen at the time of the export",
            field,
            panel=panel,
        )
    return first


def dsl_filter(query: str, position: int, panel: str, field: str = "query") -> dict:
    """A search-source filter carrying `query` compiled to DSL (shown in OSD as the query text)."""
    dsl = compiled(query, panel, field)
    return {
        "meta": {
            "alias": query,
            "negate": False,
            "disabled": False,
            "type": "custom",
            "key": "query",
            "value": json.dumps(dsl, separators=(",", ":"), sort_keys=True),
            "indexRefName": f"kibanaSavedObjectMeta.searchSourceJSON.filter[{position}].meta.index",
        },
        "query": dsl,
        "$state": {"store": "appState"},
    }


def _dsl_input(query: str, label: str, panel: str, field: str) -> dict:
    return {"input": {"query": compiled(query, panel, field), "language": "lucene"}, "label": label}


def _agg(agg_id: int, kind: str, schema: str, **params) -> dict:
    return {"id": str(agg_id), "enabled": True, "type": kind, "schema": schema, "params": params}


def _count(label: str = "") -> dict:
    return _agg(1, "count", "metric", **({"customLabel": label} if label else {}))


def _date_histogram(agg_id: int) -> dict:
    return _agg(
        agg_id,
        "date_histogram",
        "segment",
        field="@timestamp",
        useNormalizedOpenSearchInterval=True,
        scaleMetricValues=False,
        interval="auto",
        drop_partials=False,
        min_doc_count=1,
        extended_bounds={},
    )


def _terms(
    agg_id: int, schema: str, field: str, size: int, order_by: str = "1", other: bool = False, label: str = ""
) -> dict:
    """A terms aggregation on the index pattern's `field` (grouping_field: a mapped field's name, or
    the route's scripted field, which OSD sends as a script; its column is labelled `route`)."""
    label = label or ("route" if field == ROUTE_FIELD else "")
    return _agg(
        agg_id,
        "terms",
        schema,
        field=field,
        orderBy=order_by,
        order="desc",
        size=size,
        otherBucket=other,
        otherBucketLabel="other",
        missingBucket=False,
        missingBucketLabel="Missing",
        **({"customLabel": label} if label else {}),
    )


def _filters(agg_id: int, schema: str, filters: list[dict]) -> dict:
    return _agg(agg_id, "filters", schema, filters=filters)


# -- chart parameters (what OSD's editors save) ----------------------------------------------------


def _table_params(rows: int) -> dict:
    return {
        "perPage": max(10, rows),
        "showPartialRows": False,
        "showMetricsAtAllLevels": False,
        "showTotal": False,
        "totalFunc": "sum",
        "percentageCol": "",
        "sort": {"columnIndex": None, "direction": None},
    }


def _metric_params() -> dict:
    return {
        "addTooltip": True,
        "addLegend": False,
        "type": "metric",
        "metric": {
            "percentageMode": False,
            "useRanges": False,
            "colorSchema": "Green to Red",
            "metricColorMode": "None",
            "colorsRange": [{"from": 0, "to": 10000}],
            "labels": {"show": True},
            "invertColors": False,
            "style": {"bgFill": "#000", "bgColor": False, "labelColor": False, "subText": "", "fontSize": 36},
        },
    }


def _chart_params(kind: str, mode: str, unit: str) -> dict:
    return {
        "type": kind,
        "addTooltip": True,
        "addLegend": True,
        "legendPosition": "right",
        "times": [],
        "addTimeMarker": False,
        "labels": {"show": False},
        "grid": {"categoryLines": False},
        "categoryAxes": [
            {
                "id": "CategoryAxis-1",
                "type": "category",
                "position": "bottom",
                "show": True,
                "style": {},
                "scale": {"type": "linear"},
                "labels": {"show": True, "filter": True, "truncate": 100},
                "title": {},
            }
        ],
        "valueAxes": [
            {
                "id": "ValueAxis-1",
                "name": "LeftAxis-1",
                "type": "value",
                "position": "left",
                "show": True,
                "style": {},
                "scale": {"type": "linear", "mode": "normal"},
                "labels": {"show": True, "rotate": 0, "filter": False, "truncate": 100},
                "title": {"text": unit or "Count"},
            }
        ],
        "seriesParams": [
            {
                "show": True,
                "type": "histogram" if kind == "histogram" else "line",
                "mode": mode,
                "data": {"label": unit or "Count", "id": "1"},
                "valueAxis": "ValueAxis-1",
                "drawLinesBetweenPoints": True,
                "lineWidth": 2,
                "showCircles": True,
                "interpolate": "linear",
            }
        ],
        "thresholdLine": {"show": False, "value": 10, "width": 1, "style": "full", "color": "#E7664C"},
    }


# -- panels ----------------------------------------------------------------------------------------


def visual(panel: Panel) -> tuple[dict | None, list[dict]]:
    """(visState, search-source filters) of a panel; visState None for an `events` panel (a
    saved search: app/dashboards/opensearch_export.py)."""
    filters = [dsl_filter(panel.query, 0, panel.id)] if panel.query else []
    if panel.kind == "events":
        return None, filters
    if panel.kind == "number" and panel.ratio_of is not None:
        filters = []  # the two counts are the split's, each with its own DSL
    vis_type, params, aggs = KINDS[panel.kind](panel)
    return {"title": panel.title, "type": vis_type, "params": params, "aggs": aggs}, filters


def _number(panel: Panel):
    if panel.ratio_of is None:
        return "metric", _metric_params(), [_count(panel.title)]
    split = _filters(
        2,
        "group",
        [
            _dsl_input(panel.query, panel.title, panel.id, "query"),
            _dsl_input(panel.ratio_of, f"of: {panel.ratio_of or 'every event'}", panel.id, "ratio_of"),
        ],
    )
    return "metric", _metric_params(), [_count(panel.unit or "events"), split]


def _timeseries(panel: Panel):
    aggs = [_count(panel.unit), _date_histogram(2)]
    if len(panel.series) > 1 or panel.series[0].query != panel.query:
        aggs.append(_filters(3, "group", [_dsl_input(s.query, s.label, panel.id, "series") for s in panel.series]))
    kind = "histogram" if len(panel.series) == 1 else "line"
    return kind, _chart_params(kind, "normal", panel.unit), aggs


def _need(panel: Panel, value: str | None, what: str) -> str:
    """A field the panel's kind requires (definitions.py checks it on load)."""
    if value is None:
        raise ValueError(f"a {panel.kind} panel needs `{what}`")
    return value


def _group(panel: Panel) -> str:
    """The index-pattern field a panel's `by` groups on (opensearch_routes.grouping_field)."""
    return grouping_field(panel, _need(panel, panel.by, "by"))


def _stacked(panel: Panel):
    aggs = [
        _count(panel.unit),
        _date_histogram(2),
        _terms(3, "group", _group(panel), panel.limit, other=True),
    ]
    return "histogram", _chart_params("histogram", "stacked", panel.unit), aggs


def _top(panel: Panel):
    return "table", _table_params(panel.limit), [_count(), _terms(2, "bucket", _group(panel), panel.limit)]


def _percentiles(panel: Panel):
    field = resolve(_need(panel, panel.field, "field")).name
    aggs = [
        _agg(1, "percentiles", "metric", field=field, percents=list(panel.percentiles)),
        _agg(2, "max", "metric", field=field),
    ]
    if panel.by:  # slowest (highest max) first
        aggs.append(_terms(3, "bucket", grouping_field(panel, panel.by), panel.limit, order_by="2"))
    return "table", _table_params(panel.limit), aggs


def _status(panel: Panel):
    failure = panel.failure_query or FAILURE_QUERY
    aggs = [
        _count(),
        _agg(
            2,
            "top_hits",
            "metric",
            field=resolve(_need(panel, panel.status_field, "status_field")).name,
            aggregate="concat",
            size=1,
            sortField="@timestamp",
            sortOrder="desc",
            customLabel=f"newest {panel.status_field}",
        ),
        _agg(3, "max", "metric", field="@timestamp", customLabel="newest at"),
        _terms(4, "bucket", _group(panel), panel.limit),
        _filters(
            5,
            "bucket",
            [
                _dsl_input(failure, "failures", panel.id, "failure_query"),
                {"input": {"query": "", "language": "lucene"}, "label": "all"},
            ],
        ),
    ]
    return "table", _table_params(panel.limit * 2), aggs


KINDS = {
    "number": _number,
    "timeseries": _timeseries,
    "stacked": _stacked,
    "top": _top,
    "percentiles": _percentiles,
    "status": _status,
}
