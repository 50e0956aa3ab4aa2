"""The Elasticsearch `_bulk` format, read into the Ingestor's items and answered per item.

A body is NDJSON: an action line, then (except for `delete`) a source line. `index` and `create`
store their source through the one ingest pipeline (app/ingest/pipeline.py), so the same
validation, classification and redaction apply as on /api/v1/events/bulk. For each stored source:
- the action's `_id` becomes `event.id` (a re-send of the same `_id` stores nothing new);
- the index name (the action's `_index`, else the one in the path) is kept as the label
  `labels.es_index`, unless the source sets that label itself.
Every other action (`update`, `delete`, anything unknown) gets a per-item error; it never fails
the batch. The answer is Elasticsearch's: `{"took", "errors", "items": [{op: {...}}]}`, one item per
action in order, with these statuses:
- 201 `created`;
- an `_id` stored before: `create` 409 (version_conflict_engine_exception, as Elasticsearch
  answers), `index` 200 `noop` (the stored event is kept as it was: retries stay idempotent);
- 400 a source the pipeline refuses, or a bad action; 503 the store failed (retry the item).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import orjson

from ..events import refusals
from ..events.normalize import EventError
from .items import refuse_duplicates
from .ndjson import BodyLimitError, BrokenBody, parse_json
from .pipeline import IngestReport

INDEX_LABEL = "es_index"
MAX_INDEX_CHARS = 255
OPS_WITH_SOURCE = ("index", "create", "update")
SHARDS = {"total": 1, "successful": 1, "failed": 0}


@dataclass(slots=True)
class Action:
    op: str  # the action line's key: index, create, update, delete, …
    index: str | None = None
    id: str | None = None
    status: int = 0  # set when the action is refused before the pipeline
    error_type: str = ""
    reason: str = ""
    kind: str = ""  # why, for the ingest status (app/events/refusals.py)

    def refuse(self, status: int, error_type: str, reason: str, kind: str = refusals.BAD_REQUEST) -> None:
        self.status, self.error_type, self.reason, self.kind = status, error_type, reason, kind


def read_actions(
    lines: Iterator[tuple[int, bytes | EventError]], default_index: str | None, actions: list[Action]
) -> Iterator[tuple[int, bytes | EventError]]:
    """The Ingestor's items, numbered by action: one per `index`/`create` action, in order.
    `lines` come from ndjson.iter_lines; each action read is appended to `actions` (its
    position is its number). A line that breaks the body off (bad gzip, a limit) ends it."""
    pending: Action | None = None  # an action whose source line comes next
    for _, line in lines:
        if pending is None:
            action = _action(line, default_index)
            actions.append(action)
            if isinstance(line, BodyLimitError):
                action.refuse(413, "content_too_long_exception", f"{line.reason}; nothing after this was read", line.kind)
                return
            if isinstance(line, BrokenBody):
                return
            if action.op != "delete":
                pending = action
            elif not action.status:
                action.refuse(
                    400,
                    "illegal_argument_exception",
                    "delete is not supported: Platform Logs keeps events as they were sent",
                )
            continue
        action, pending = pending, None
        number = len(actions) - 1
        if isinstance(line, EventError):
            if isinstance(line, (BodyLimitError, BrokenBody)):
                action.refuse(413 if isinstance(line, BodyLimitError) else 400, "parse_exception", line.reason, line.kind)
                return
            if not action.status:
                action.refuse(400, "document_parsing_exception", line.reason, line.kind)
            continue
        if action.status:
            continue  # its source is read and dropped
        if action.op == "update":
            action.refuse(
                400, "illegal_argument_exception", "update is not supported: Platform Logs keeps events as they were sent"
            )
            continue
        yield number, _source(line, action)
    if pending is not None and not pending.status:
        pending.refuse(400, "illegal_argument_exception", f"the {pending.op} action has no source line")


def _action(line: bytes | EventError, default_index: str | None) -> Action:
    if isinstance(line, EventError):
        action = Action("index", default_index)
        action.refuse(400, "illegal_argument_exception", f"malformed action line: {line.reason}", refusals.BAD_JSON)
        return action
    try:
        parsed = parse_json(line)
    except EventError as exc:
        parsed, problem = None, exc.reason
    else:
        problem = "expected an object with one key, the action (index, create, …)"
    if not (type(parsed) is dict and len(parsed) == 1):
        action = Action("index", default_index)
        action.refuse(400, "illegal_argument_exception", f"malformed action line: {problem}", refusals.BAD_JSON)
        return action
    ((op, meta),) = parsed.items()
    action = Action(op if len(op) <= 32 else op[:32], default_index)
    if type(meta) is not dict:
        action.refuse(
            400, "illegal_argument_exception", f"malformed action line: {op!r} must hold an object", refusals.BAD_JSON
        )
        return action
    index, doc_id = meta.get("_index", default_index), meta.get("_id")
    if index is not None and not (type(index) is str and 0 < len(index) <= MAX_INDEX_CHARS):
        action.refuse(400, "invalid_index_name_exception", f"_index must be 1-{MAX_INDEX_CHARS} characters")
        return action
    action.index = index
    if doc_id is not None:
        if type(doc_id) is not str:
            action.refuse(400, "illegal_argument_exception", "_id must be a string")
            return action
        action.id = doc_id
    if op not in OPS_WITH_SOURCE and op != "delete":
        action.refuse(400, "illegal_argument_exception", f"unknown action {op!r}: send index or create")
    elif index is None and op != "delete":
        action.refuse(
            400,
            "action_request_validation_exception",
            "index is missing: name it in the path (/<index>/_bulk) or in the action (_index)",
        )
    return action


def _source(line: bytes, action: Action) -> bytes | EventError:
    """The source as the Ingestor's item: its bytes with `event.id` and the index label set.

    When the line names neither `labels` nor `event` anywhere (most shippers' lines), the two
    are written after its keys without parsing it: the pipeline parses it once, checks it
    for repeated keys (a key spelled with escapes as `labels` or `event` is refused there as
    given twice) and judges it like any other. Otherwise it is parsed, changed and written again."""
    body = line.strip()
    if body[:1] == b"{" and body[-1:] == b"}" and b'"labels"' not in body and b'"event"' not in body:
        tail = b'"labels":{"' + INDEX_LABEL.encode() + b'":' + orjson.dumps(action.index) + b"}"
        if action.id is not None:
            tail += b',"event":{"id":' + orjson.dumps(action.id) + b"}"
        # after the last key: an error the pipeline finds in the sender's text keeps its position
        return body[:-1] + (tail if not body[1:-1].strip() else b"," + tail) + b"}"
    try:
        doc = parse_json(line)
        refuse_duplicates(line, doc)  # the pipeline's own check: it sees the rewritten line only
    except EventError as exc:
        return exc
    if type(doc) is not dict:
        return line  # the pipeline refuses it, in its own words
    if action.id is not None:
        meta = doc.get("event")
        if meta is None:
            doc["event"] = {"id": action.id}
        elif type(meta) is dict:
            meta["id"] = action.id
        # anything else: the pipeline refuses `event`, not an object
    labels = doc.get("labels")
    if labels is None:
        doc["labels"] = {INDEX_LABEL: action.index}
    elif type(labels) is dict and INDEX_LABEL not in labels:
        labels[INDEX_LABEL] = action.index
    try:
        return orjson.dumps(doc)
    except orjson.JSONEncodeError:
        return EventError("nested too deep to parse", kind=refusals.BAD_JSON)


def answer(actions: list[Action], report: IngestReport, took_ms: int) -> dict:
    """Elasticsearch's bulk answer: one item per action, in order."""
    errors = {error["item"]: error for error in report.errors}
    items, any_error = [], False
    for number, action in enumerate(actions):
        item: dict = {"_index": action.index}
        status = action.status
        if status:
            error = {"type": action.error_type, "reason": action.reason}
        elif number in errors:
            status = 503 if number in report.failed_numbers else 400
            reason = errors[number]["reason"]
            if errors[number].get("field"):
                reason = f"[{errors[number]['field']}] {reason}"
            error = {
                "type": "unavailable_shards_exception" if status == 503 else "document_parsing_exception",
                "reason": reason,
            }
        elif number in report.duplicate_numbers:
            item["_id"] = report.ids.get(number, action.id)
            if action.op == "create":
                status, error = (
                    409,
                    {
                        "type": "version_conflict_engine_exception",
                        "reason": f"[{item['_id']}]: version conflict, document already exists",
                    },
                )
            else:
                item.update(_version=1, result="noop", _shards=SHARDS, status=200)
                items.append({action.op: item})
                continue
        elif number in report.ids:
            item.update(_id=report.ids[number], _version=1, result="created", _shards=SHARDS, status=201)
            items.append({action.op: item})
            continue
        else:  # never reached the store: the body broke off before it
            status, error = 400, {"type": "parse_exception", "reason": "not read: the body broke off before it"}
        any_error = True
        if action.id is not None:
            item["_id"] = action.id
        item.update(status=status, error=error)
        items.append({action.op: item})
    return {"took": took_ms, "errors": any_error, "items": items}
