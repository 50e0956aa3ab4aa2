"""Error groups on the pages and the JSON API (the list itself is on the Errors page, control.py).

Pages: /errors/groups/<id> (one group: status, counts, trend, services, releases, the sample),
POST …/status and /errors/groups/merge (manage_error_groups). API: GET /api/v1/error-groups,
GET /api/v1/error-groups/<id>, POST /api/v1/error-groups/<id>/status {"status"},
POST /api/v1/error-groups/merge {"into", "groups"}. Thin: parse, call app/errorgroups/service.py
(every read scoped by app/web/reading.py, the sample masked), record, render. Status changes and
merges are recorded as admin actions."""

from __future__ import annotations

from flask import current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from .. import audit
from ..auth import api_access, page_access
from ..errorgroups import service
from ..errors import ApiError
from ..query import QueryError
from ..search import masking
from ..search.window import parse_window
from ..storage import CursorError, SearchRequest
from . import presenting, reading, web
from .api import api

AUDIT_TYPE = "profile_change"  # a change to something's settings, made in the back office


def _services():
    return current_app.extensions["platlogs"]


def _fingerprinter():
    return getattr(_services().ingestor.normalizer, "fingerprinter", None)


def title_shown(title: str) -> str:
    """A group's title for the reader: templates hold no values, but a custom rule's title may."""
    return title if reading.sees_personal() else masking.mask_text(title)


def listing_args(args) -> service.Listing:
    """`status` and `sort` of the list; QueryError names a bad one."""
    status = (args.get("status") or "unresolved").strip()
    if status not in service.STATUS_FILTERS:
        raise QueryError(f"status: one of {', '.join(service.STATUS_FILTERS)}", field="status")
    sort = (args.get("sort") or "count").strip()
    if sort not in ("count", "last_seen", "first_seen"):
        raise QueryError("sort: one of count, last_seen, first_seen", field="sort")
    return service.Listing(status=status, sort=sort)


def listing(window, args) -> dict:
    """The groups of the window as the reader may see them (control.errors and the API)."""
    ingestor = _services().ingestor
    found = service.list_groups(
        _services().store,
        _services().meta,
        reading.scoped,
        window,
        listing_args(args),
        _fingerprinter(),
        announce=lambda events: ingestor.ingest([(i, e) for i, e in enumerate(events)]),
    )
    for group in found["groups"]:
        group["title"] = title_shown(group["title"])
    return found


def _detail(window, group_id: int) -> dict:
    try:
        found = service.detail(_services().store, _services().meta, reading.scoped, window, group_id)
    except LookupError:
        raise ApiError(404, f"no error group {group_id}") from None
    found["group"]["title"] = title_shown(found["group"]["title"])
    for merged in found["merged"]:
        merged["title"] = title_shown(merged["title"])
    found["sample"] = reading.shown(found["sample"]) if found["sample"] else None
    found["facets"] = reading.shown_facets(found["facets"])
    reading.record_search(
        "error_group", found["query"], search_request(window), 1 if found["sample"] else 0, found["total"], group=group_id
    )
    return found


def search_request(window) -> SearchRequest:
    return SearchRequest(start_ms=window.start_ms, end_ms=window.end_ms)


def _record_change(action: str, group: dict, message: str, changes: list) -> None:
    audit.record(
        action,
        f"{current_user.username} {message}",
        event_type=AUDIT_TYPE,
        target={"type": "error_group", "id": str(group["id"])},
        changes=changes,
    )


def change_status(group_id: int, status: str) -> dict:
    meta = _services().meta
    try:
        before = service.row(meta, group_id)
        after = service.set_status(meta, group_id, status, current_user.username)
    except LookupError:
        raise ApiError(404, f"no error group {group_id}") from None
    except ValueError as exc:
        raise ApiError(400, str(exc), field="status") from None
    if before["status"] != after["status"]:
        _record_change(
            "error_group_status",
            after,
            f"set error group {group_id} to {status}",
            [{"field": "status", "old": before["status"], "new": after["status"]}],
        )
    return after


def merge_groups(into: int, others: list[int]) -> dict:
    try:
        merged = service.merge(_services().meta, into, others, current_user.username)
    except LookupError as exc:
        raise ApiError(404, str(exc)) from None
    except ValueError as exc:
        raise ApiError(400, str(exc), field="groups") from None
    _record_change(
        "error_groups_merged",
        merged,
        f"merged error groups {', '.join(map(str, others))} into {into}",
        [{"field": "merged_into", "old": None, "new": str(merged["id"])}],
    )
    return merged


# -- pages ------------------------------------------------------------------------------------


@web.get("/errors/groups/<int:group_id>")
@page_access("view_errors")
def error_group(group_id: int):
    from .control import RANGES, _window, here

    window, error = _window()
    figures = None
    if error is None:
        try:
            figures = _detail(window, group_id)
        except (QueryError, CursorError) as exc:
            error = exc if isinstance(exc, QueryError) else QueryError(str(exc))
    bars = presenting.bars(figures["histogram"], figures["width_ms"] or 1) if figures and figures["histogram"] else []
    return render_template(
        "control/error_group.html",
        window=window,
        error=error,
        figures=figures,
        ranges=RANGES,
        args=request.args,
        bars=bars,
        endpoint=request.endpoint,
        here=lambda **changes: {**here(**changes), "group_id": group_id},
        q=request.args.get("q", ""),
        cell=presenting.cell,
        with_clause=presenting.with_clause,
        group_id=group_id,
        statuses=service.STATUSES,
    ), 400 if error else 200


@web.post("/errors/groups/<int:group_id>/status")
@page_access("manage_error_groups")
def error_group_status(group_id: int):
    status = (request.form.get("status") or "").strip()
    change_status(group_id, status)
    flash(f"Error group {group_id}: {status}.")
    return redirect(url_for("web.error_group", group_id=group_id, **_time_args()))


@web.post("/errors/groups/merge")
@page_access("manage_error_groups")
def error_groups_merge():
    ids = _ids(request.form.getlist("group"))
    if len(ids) < 2:
        raise ApiError(400, "choose at least two groups to merge", field="group")
    merged = merge_groups(ids[0], ids[1:])
    flash(f"Merged {len(ids) - 1} group(s) into group {merged['id']}.")
    return redirect(url_for("web.error_group", group_id=merged["id"], **_time_args()))


@web.post("/errors/groups/<int:group_id>/unmerge")
@page_access("manage_error_groups")
def error_group_unmerge(group_id: int):
    try:
        row = service.unmerge(_services().meta, group_id)
    except LookupError:
        raise ApiError(404, f"no error group {group_id}") from None
    _record_change(
        "error_group_unmerged",
        row,
        f"took error group {group_id} out of the group it was merged into",
        [{"field": "merged_into", "old": "merged", "new": None}],
    )
    flash(f"Error group {group_id} is on its own again.")
    return redirect(url_for("web.error_group", group_id=group_id, **_time_args()))


def _time_args() -> dict:
    return {k: v for k in ("from", "to", "q") if (v := (request.form.get(k) or "").strip())}


def _ids(values) -> list[int]:
    ids = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ApiError(400, "group: expected a group id", field="group")
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ApiError(400, f"group: expected a group id, got {str(value)[:40]!r}", field="group") from None
        if number not in ids:
            ids.append(number)
    if len(ids) > 101:
        raise ApiError(400, "merge at most 100 groups at once", field="group")
    return ids


# -- JSON API ---------------------------------------------------------------------------------


def _api_window():
    return parse_window(request.args)  # QueryError: 400 with its position (app/errors.py)


@api.get("/error-groups")
@api_access("read", "view_errors")
def api_error_groups():
    window = _api_window()
    found = listing(window, request.args)
    reading.record_search("error_groups", found["query"], search_request(window), len(found["groups"]), found["events"])
    return jsonify({k: v for k, v in found.items() if k != "link"})


@api.get("/error-groups/<int:group_id>")
@api_access("read", "view_errors")
def api_error_group(group_id: int):
    found = _detail(_api_window(), group_id)
    found["histogram"] = [{"start_ms": b.start_ms, "count": b.count} for b in found["histogram"]]
    found.pop("link", None)
    found.pop("base", None)
    return jsonify(found)


@api.post("/error-groups/<int:group_id>/status")
@api_access("read", "manage_error_groups")
def api_error_group_status(group_id: int):
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("status"), str):
        raise ApiError(400, 'send a JSON object {"status": "unresolved" | "resolved" | "ignored"}', field="status")
    return jsonify(change_status(group_id, body["status"]))


@api.post("/error-groups/merge")
@api_access("read", "manage_error_groups")
def api_error_groups_merge():
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("groups"), list) or "into" not in body:
        raise ApiError(400, 'send a JSON object {"into": id, "groups": [ids]}', field="groups")
    into = _ids([body["into"]])[0]
    return jsonify(merge_groups(into, [i for i in _ids(body["groups"]) if i != into]))
