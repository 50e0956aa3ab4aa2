"""The alerts' JSON API: `POST /api/v1/alerts/rules/test` tests a rule before saving it — the same
service and the same presentation as the rule form's "Test the rule" (app/alerts/preview.py,
alerts_common.present_preview): every position the scheduler would evaluate over the last
hours, the windows that would have fired, and the warnings (a group_by field the matching
events lack). Writes nothing.

Body: {"rule": {a rule definition, keys as in alerts/README.md}, "hours": 6} or
{"rule_id": "an existing rule", "hours": 6}. Needs edit_alert_rules (app/roles.yaml)."""
from __future__ import annotations

from flask import current_app, jsonify, request

from ..alerts.lifecycle import now_ms
from ..alerts.preview import DEFAULT_HOURS, MAX_HOURS, preview_rule
from ..alerts.rules import RuleError, validate_rule
from ..auth import api_access
from ..errors import ApiError
from .alerts_common import _catalog, present_preview
from .api import api


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
