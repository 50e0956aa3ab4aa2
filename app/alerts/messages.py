"""The message of an alert notification and the evidence it carries (see notify.py): the rule,
the group, the value, the threshold, up to five sample events (fetched by id from the store when
the message is sent; personal fields masked, since the message leaves the back office) and a link
to the search that shows them (`<PLATLOGS_BASE_URL>/?q=…&from=…&to=…`). Built from the payload
the lifecycle queued; the notifiers (notifiers.py) send it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlencode

from ..meta.alert_tables import iso
from .common import now_ms

MAX_SAMPLES = 5
_LABEL = {"firing": "FIRING", "renotify": "STILL FIRING", "resolved": "RESOLVED"}


@dataclass
class Message:
    kind: str  # firing, renotify, resolved
    title: str  # one line: subject, Slack header
    text: str  # plain text with every piece of evidence
    body: dict  # the webhook's JSON document
    search_url: str
    samples: list[dict] = field(default_factory=list)


def search_url(base_url: str, query: str, from_ms: int | None, to_ms: int | None) -> str:
    params: dict[str, str | None] = {"q": query}
    if from_ms is not None:
        params["from"] = iso(from_ms)
    if to_ms is not None:
        params["to"] = iso(to_ms)
    return f"{base_url.rstrip('/')}/?{urlencode(params)}"


def _group_query(query: str, group_by: str | None, group: str | None) -> str:
    if not group_by or group is None:
        return query
    from ..query.quoting import term as query_term

    term = query_term(group_by, group)
    return term if query.strip() in ("", "*") else f"({query}) AND {term}"


def fetch_samples(store, ids: list[str]) -> tuple[list[dict], str | None]:
    """Up to five events by id, personal fields masked; and a note when the store failed."""
    from ..search.masking import mask_event

    events, note = [], None
    for event_id in ids[:MAX_SAMPLES]:
        try:
            event = store.get(event_id)
        except Exception as exc:  # noqa: BLE001  (any store failure: the notification still goes out, without this sample)
            note = f"sample events unavailable: {exc}"
            break
        if event is not None:
            events.append(mask_event(event))
    return events, note


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and math.isfinite(value) and value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _finite(value):
    return value if not isinstance(value, float) or math.isfinite(value) else None


def _line(event: dict) -> str:
    meta = event.get("event") or {}
    actor = (event.get("actor") or {}).get("id") or ""
    kind = "/".join(str(x) for x in (meta.get("component"), meta.get("type") or meta.get("action")) if x)
    level = (event.get("log") or {}).get("level") or ""
    message = str(event.get("message") or "").replace("\n", " ")[:200]
    return "  ".join(str(x) for x in (event.get("@timestamp", ""), level, kind, actor, message) if x != "")


def build_message(
    payload: dict,
    samples: list[dict],
    base_url: str,
    *,
    delivery_id: int = 0,
    attempt: int = 1,
    sent_at_ms: int | None = None,
    note: str | None = None,
) -> Message:
    """The message for one delivery, from the evidence the lifecycle queued."""
    kind, rule, alert, evidence = payload["event"], payload["rule"], payload["alert"], payload["evidence"]
    moment = datetime.fromisoformat(payload["moment"].replace("Z", "+00:00"))
    query = evidence.get("search_query") or _group_query(rule["query"], rule.get("group_by"), alert.get("group"))
    end_ms = evidence.get("window_end_ms") or int(moment.timestamp() * 1000)
    start_ms = evidence.get("window_start_ms") or end_ms - rule["window_s"] * 1000
    url = search_url(base_url, query, start_ms, end_ms)
    group = alert.get("group")
    where = f" — {rule.get('group_by') or 'group'}={group}" if group is not None else ""
    title = f"[{_LABEL.get(kind, kind.upper())}] {rule['name']}{where}".replace("\r", " ").replace("\n", " ")[:250]
    lines = [
        title,
        alert.get("detail") or f"value {_fmt(alert.get('value'))}, threshold {_fmt(alert.get('threshold'))}",
        "",
        f"Rule:       {rule['id']} ({rule['kind']}, severity {rule['severity']})",
        f"Query:      {rule['query']}",
    ]
    if group is not None:
        lines.append(f"Group:      {rule.get('group_by') or 'group'} = {group}")
    lines += [
        f"Value:      {_fmt(alert.get('value'))}",
        f"Threshold:  {_fmt(alert.get('threshold'))}",
        f"Window:     {iso(start_ms)} to {iso(end_ms)}",
        f"Fired at:   {alert.get('fired_at') or '-'}",
    ]
    if kind == "resolved":
        lines.append(f"Resolved:   {alert.get('resolved_at') or payload['moment']}")
    if alert.get("acknowledged_by"):
        lines.append(f"Acknowledged by: {alert['acknowledged_by']}")
    lines += ["", f"Sample events ({len(samples)}, newest first):" if samples else "Sample events: none"]
    lines += ["  " + _line(e) for e in samples]
    if note:
        lines.append(f"  ({note})")
    lines += ["", f"Open the search: {url}", f"Alert #{alert['id']} — Platform Logs"]
    sent_at = iso(sent_at_ms if sent_at_ms is not None else now_ms())
    body = {
        "event": kind,
        "title": title,
        "moment": payload["moment"],
        "sent_at": sent_at,
        "delivery": {"id": delivery_id, "attempt": attempt},
        "rule": rule,
        "alert": {**alert, "value": _finite(alert.get("value")), "threshold": _finite(alert.get("threshold"))},
        "evidence": {
            "sample_ids": evidence.get("sample_ids", []),
            "samples": samples,
            "search_query": query,
            "search_url": url,
            "from": iso(start_ms),
            "to": iso(end_ms),
            "note": note,
        },
    }
    return Message(kind=kind, title=title, text="\n".join(lines), body=body, search_url=url, samples=samples)
