"""The one choke point for free text in the meta database: card numbers and secrets people type
(or paste) into names, queries, descriptions, comments and reasons are masked before any row is
written, whoever writes it (pages, JSON API, command line, scheduler).

`install(sessionmaker, redactor)` hooks the ORM's before_flush: every new or changed row has its
FREE_TEXT columns passed through the project's Redactor (app/events/redact.py, the same rules as
ingest: Luhn-checked card numbers keep six and four digits, secret patterns become [REDACTED]).
"json" columns hold a JSON document whose string values are scrubbed one by one (the document
stays valid). The result is cut to the column's length.

Every text column of the meta database is classified here, FREE_TEXT or KEPT (with the reason it
must be stored exactly as given); a test fails when a new text column is neither, so a new free
text column cannot slip past. Bulk UPDATE statements bypass before_flush: none writes free text
(the few there are set timestamps, counters, and fixed words)."""

from __future__ import annotations

import json

from sqlalchemy import event

TEXT, JSON = "text", "json"

FREE_TEXT: dict[str, dict[str, str]] = {
    "saved_searches": {"name": TEXT, "query": TEXT},
    "api_keys": {"name": TEXT},
    "user_sessions": {"user_agent": TEXT},
    "alert_ui_rules": {"definition": JSON},  # name, query, description… of rules made on the pages
    "alert_instances": {"ack_comment": TEXT, "detail": TEXT, "suppressed": TEXT, "last_delivery_error": TEXT},
    "alert_history": {"comment": TEXT},  # acknowledgements, mutes, maintenance, rule edits
    "alert_mutes": {"comment": TEXT},
    "alert_maintenance": {"reason": TEXT},
    "alert_rule_state": {"last_error": TEXT},
    "alert_deliveries": {"payload": JSON, "last_error": TEXT},
    "stored_dashboards": {"title": TEXT, "yaml_text": TEXT},  # dashboards made on the pages (queries, titles)
    "provider_notes": {"owner": TEXT, "note": TEXT},  # typed by people annotating a provider
    "error_groups": {"title": TEXT},  # an error message's template (from events)
}

KEPT: dict[str, dict[str, str]] = {
    "users": {"username": "validated name", "password_hash": "hash", "role": "one of roles.yaml"},
    "api_keys": {
        "key_hash": "hash",
        "display": "key prefix, to recognise it",
        "scopes": "fixed words",
        "roles": "key roles of roles.yaml",
    },
    "login_failures": {"username": "username or HMAC pseudonym", "address": "IP address"},
    "user_sessions": {"id": "hash", "address": "IP address", "ended_why": "fixed words"},
    "saved_searches": {"time_from": "time expression", "time_to": "time expression", "shared_role": "a role"},
    "alert_ui_rules": {"rule_id": "identifier", "created_by": "username", "updated_by": "username"},
    "alert_instances": {
        "rule_id": "identifier",
        "group_key": "must equal the group's value",
        "state": "fixed words",
        "severity": "fixed words",
        "sample_ids": "event ids",
        "search_query": "derived from the rule (scrubbed there)",
        "ack_owner": "username",
        "acked_by": "username",
    },
    "alert_history": {
        "rule_id": "identifier",
        "group_key": "must equal the group's value",
        "actor": "username",
        "action": "fixed words",
        "from_state": "fixed words",
        "to_state": "fixed words",
    },
    "alert_mutes": {
        "rule_id": "identifier",
        "group_key": "must equal the group's value",
        "created_by": "username",
        "lifted_by": "username",
    },
    "alert_maintenance": {
        "rule_id": "identifier",
        "group_pattern": "glob matched against group values",
        "created_by": "username",
    },
    "alert_rule_runs": {
        "rule_id": "identifier",
        "claimed_by": "process name",
        "outcome": "written by the scheduler (bulk UPDATE)",
    },
    "alert_rule_state": {"rule_id": "identifier"},
    "alert_destinations": {
        "name": "identifier (rules name it)",
        "kind": "fixed words",
        "target": "needed as given to deliver (URL, addresses)",
        "secret": "needed as given to sign",
        "created_by": "username",
    },
    "alert_deliveries": {
        "destination": "destination name",
        "kind": "fixed words",
        "status": "fixed words",
        "claimed_by": "process name",
    },
    "stored_dashboards": {"id": "identifier", "owner_name": "username"},
    "provider_notes": {"provider": "must equal integration.provider in events", "updated_by": "username"},
    "provider_states": {"provider": "must equal integration.provider in events", "status": "fixed words"},
    "error_groups": {"fingerprint": "hash", "status": "fixed words", "status_by": "username"},
}


def _json_strings(value, scrub):
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, list):
        return [_json_strings(v, scrub) for v in value]
    if isinstance(value, dict):
        return {k: _json_strings(v, scrub) for k, v in value.items()}
    return value


def scrub_value(redactor, value: str, kind: str = TEXT, limit: int | None = None) -> str:
    """`value` as the meta database stores it."""

    def text(s: str) -> str:
        return redactor.scrub(s)[0]

    if kind == JSON:
        try:
            document = json.loads(value)
        except ValueError:
            return text(value)
        new = _json_strings(document, text)
        return value if new == document else json.dumps(new)
    new = text(value)
    return new[:limit] if limit and len(new) > limit else new


def install(session_factory, redactor) -> None:
    """Scrub FREE_TEXT columns of every row a session of `session_factory` flushes."""

    @event.listens_for(session_factory, "before_flush")
    def _scrub(session, _context, _instances):
        for obj in (*session.new, *session.dirty):
            columns = FREE_TEXT.get(getattr(obj, "__tablename__", ""))
            if not columns:
                continue
            table = obj.__table__
            for name, kind in columns.items():
                value = getattr(obj, name, None)
                if isinstance(value, str) and value:
                    new = scrub_value(redactor, value, kind, getattr(table.c[name].type, "length", None))
                    if new != value:
                        setattr(obj, name, new)
