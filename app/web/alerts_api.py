"""The alerts' JSON API, on the services the pages use:

- `GET /api/v1/alerts`: the open alerts (view_alerts), group values masked by role as on the page.
- `POST /api/v1/alerts/<id>/acknowledge` {"owner"?, "comment"?}, `.../unacknowledge` {"comment"?},
  `.../mute` {"minutes", "scope"?: "group" | "rule", "comment"?} and `.../unmute` {"scope"?,
  "comment"?} (act_on_alerts): app/alerts/actions.py — the change, its alert history and its
  admin-action event, as from the page.
- `POST /api/v1/alerts/rules/test` tests a rule before saving it — the same
service and the same presentation as the rule form's "Test the rule" (app/alerts/preview.py,
alerts_common.present_preview): every position the scheduler would evaluate over the last
hours, the windows that would have fired, and the warnings (a group_by field the matching
events lack). Writes nothing.

Body: {"rule": {a rule definition, keys as in alerts/README.md}, "hours": 6} or
{"rule_id": "an existing rule", "hours": 6}. Needs edit_alert_rules (app/roles.yaml).

Who: a signed-in session (a write sends the CSRF token in X-CSRFToken), or an API key — listing
with scope `read` or `alerts:write`, acting with `alerts:write` (app/roles.yaml key_scopes; never
beyond what its creator may do). A key acts as `key:<its name>` (alert history, the event's
message; the event's actor is api-key-<id>), and owns what it acknowledges unless it names an owner."""

from __future__ import annotations

from flask import current_app, jsonify, request

from ..alerts.changes import Conflict
from ..alerts.common import now_ms
from ..alerts.preview import DEFAULT_HOURS, MAX_HOURS, preview_rule
from ..alerts.rules import RuleError, validate_rule
from ..auth import api_access
from ..errors import ApiError
from ..meta.alert_tables import iso
from .alerts_common import _actions, _alert_views, _alerts, _catalog, present_preview
from .api import api

MAX_MUTE_MINUTES = 7 * 24 * 60


def _alert_json(view) -> dict:
    inst = view.inst
    return {
        "id": inst.id,
        "rule_id": inst.rule_id,
        "rule_name": view.rule_name,
        "group": view.group,
        "state": inst.state,
        "severity": inst.severity,
        "value": inst.value,
        "threshold": inst.threshold,
        "detail": inst.detail,
        "first_seen": iso(inst.first_seen_at),
        "fired_at": iso(inst.fired_at),
        "acknowledged_by": inst.ack_owner,
        "muted_until": iso(view.mute.until) if view.mute else None,
        "search": view.link,
    }


def _body() -> dict:
    body = request.get_json(silent=True)
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise ApiError(400, "send a JSON object")
    for name in ("owner", "comment", "scope"):
        if name in body and not isinstance(body[name], str):
            raise ApiError(400, f"{name}: a string", field=name)
    return body


def _acted(call):
    """The service's answer, or its refusal as the API's error (404, 409, 400)."""
    try:
        return call()
    except LookupError as exc:
        raise ApiError(404, str(exc)) from None
    except Conflict as exc:
        raise ApiError(409, str(exc)) from None
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None


READ = ("read", "alerts:write")  # an alert key lists the alerts it acts on
WRITE = "alerts:write"


@api.get("/alerts")
@api_access(READ, "view_alerts")
def api_alerts():
    views = _alert_views(_alerts().active(), _catalog())
    return jsonify({"alerts": [_alert_json(v) for v in views]})


@api.post("/alerts/<int:instance_id>/acknowledge")
@api_access(WRITE, "act_on_alerts")
def api_acknowledge_alert(instance_id: int):
    body = _body()
    inst = _acted(lambda: _actions().acknowledge(instance_id, body.get("owner"), body.get("comment", "").strip()))
    return jsonify(
        {"id": inst.id, "state": inst.state, "acknowledged_by": inst.ack_owner, "acknowledged_at": iso(inst.acked_at)}
    )


@api.post("/alerts/<int:instance_id>/unacknowledge")
@api_access(WRITE, "act_on_alerts")
def api_unacknowledge_alert(instance_id: int):
    body = _body()
    inst = _acted(lambda: _actions().unacknowledge(instance_id, body.get("comment", "").strip()))
    return jsonify({"id": inst.id, "state": inst.state, "acknowledged_by": inst.ack_owner})


def _scope(body: dict) -> bool:
    """Whether the body's scope is the whole rule (default: the alert's group)."""
    if body.get("scope", "group") not in ("group", "rule"):
        raise ApiError(400, 'scope: "group" (the alert\'s group) or "rule" (every group of its rule)', field="scope")
    return body.get("scope") == "rule"


@api.post("/alerts/<int:instance_id>/mute")
@api_access(WRITE, "act_on_alerts")
def api_mute_alert(instance_id: int):
    body = _body()
    minutes = body.get("minutes")
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= MAX_MUTE_MINUTES:
        raise ApiError(400, f"minutes: a whole number from 1 to {MAX_MUTE_MINUTES}", field="minutes")
    whole_rule = _scope(body)
    now = now_ms()
    mute = _acted(
        lambda: _actions().mute_alert(
            instance_id,
            now + minutes * 60_000,
            whole_rule=whole_rule,
            comment=body.get("comment", "").strip(),
            at_ms=now,
        )
    )
    return jsonify(
        {
            "mute": mute.id,
            "rule_id": mute.rule_id,
            "scope": "rule" if mute.group_key is None else "group",
            "until": iso(mute.until),
        }
    )


@api.post("/alerts/<int:instance_id>/unmute")
@api_access(WRITE, "act_on_alerts")
def api_unmute_alert(instance_id: int):
    body = _body()
    whole_rule = _scope(body)
    lifted = _acted(
        lambda: _actions().unmute_alert(instance_id, whole_rule=whole_rule, comment=body.get("comment", "").strip())
    )
    return jsonify({"rule_id": lifted.rule_id, "scope": "rule" if lifted.group is None else "group", "mutes": lifted.mutes})


@api.post("/alerts/rules/test")
@api_access("read", "edit_alert_rules")
def alert_rule_test():
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or ("rule" in body) == ("rule_id" in body):
        raise ApiError(400, 'send a JSON object with "rule" (a rule definition) or "rule_id", and "hours"')
    hours = body.get("hours", DEFAULT_HOURS)
    if isinstance(hours, bool) or not isinstance(hours, int) or not 1 <= hours <= MAX_HOURS:
        raise ApiError(400, f"hours: a whole number from 1 to {MAX_HOURS}", field="hours")
    if "rule_id" in body:
        entry = _catalog().by_id.get(str(body["rule_id"]))
        if entry is None or entry.rule is None:
            raise ApiError(404, f"no rule {body['rule_id']!r}" + (f": {entry.error}" if entry and entry.error else ""))
        rule = entry.rule
    else:
        if not isinstance(body["rule"], dict):
            raise ApiError(400, "rule: a rule definition (a JSON object)", field="rule")
        try:
            rule = validate_rule(body["rule"], source="ui")
        except RuleError as exc:
            raise ApiError(400, exc.message, field=exc.field, position=exc.position, expected=exc.expected) from None
        except (ValueError, TypeError) as exc:
            raise ApiError(400, f"rule: {exc}", field="rule") from None
    store = current_app.extensions["platlogs"].store
    return jsonify(present_preview(preview_rule(rule, store, now_ms(), hours)))
