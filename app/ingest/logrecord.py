"""A Python `logging.LogRecord` as the standard library's `logging.handlers.HTTPHandler` POSTs it
(its attributes as an application/x-www-form-urlencoded form, every value `str()`ed) -> an event.

The message is `msg % args` as logging would make it, but only when that is harmless: `args` is
read with `ast.literal_eval` (never evaluated) when it is short, and every conversion in `msg`
must be plain (no `*`, widths and precisions of at most three digits) — a hostile record cannot
make the server build a gigabyte string. Otherwise the message is `msg`, a space and `args`, as
sent. The rest goes through the normal pipeline (levels mapped by app/events/levels.yaml,
redaction, classification) like any event.
"""

from __future__ import annotations

import ast
import contextlib
import re
from urllib.parse import parse_qsl

from ..events import refusals
from ..events.convert import EventError, format_ts

MAX_FIELDS = 100  # a LogRecord has about 25
MAX_ARGS_CHARS = 4096  # longer `args` are kept as text, not parsed
_CONVERSION = re.compile(r"%(?:\(([^)]*)\))?([-#0 +]*)(\*|\d*)(?:\.(\*|\d*))?([a-zA-Z%])")
_SAFE_TYPES = set("diouxXeEfFgGcrsa%")
_NONE = ("", "None")
# LogRecord attributes -> labels (the schema has no field of their meaning)
LABELS = {"filename": "file", "funcName": "function", "lineno": "line", "module": "module", "taskName": "task_name"}
REQUIRED = ("levelname", "msg")


def parse_form(body: bytes) -> dict[str, str]:
    """The form's fields (the last of a repeated name wins, as logging never repeats one)."""
    try:
        pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError:
        raise EventError(f"a form of more than {MAX_FIELDS} fields", kind=refusals.LIMITS) from None
    return dict(pairs)


def event_of_logrecord(fields: dict[str, str]) -> dict:
    """The event of one HTTPHandler form; EventError when the form is not a log record."""
    missing = [name for name in REQUIRED if name not in fields]
    if missing:
        raise EventError(
            "a form body is read as a Python logging record (logging.handlers.HTTPHandler, "
            f"method POST); it has no {', '.join(missing)}: send JSON otherwise",
            kind=refusals.BAD_REQUEST,
        )
    message = fields["message"] if fields.get("message") else _message(fields["msg"], fields.get("args", "None"))
    event: dict = {"message": message, "log": {"level": fields["levelname"]}}
    if fields.get("name"):
        event["log"]["logger"] = fields["name"]
    with contextlib.suppress(KeyError, ValueError, OverflowError):  # else the receive time, tagged by the normaliser
        event["@timestamp"] = format_ts(int(float(fields["created"]) * 1000))
    if fields.get("process", "").isdigit():
        event["process"] = {"pid": int(fields["process"])}
    if fields.get("processName") not in (None, *_NONE):
        event.setdefault("process", {})["name"] = fields["processName"]
    thread: dict[str, int | str] = {}
    if fields.get("thread", "").isdigit():
        thread["id"] = int(fields["thread"])
    if fields.get("threadName") not in (None, *_NONE):
        thread["name"] = fields["threadName"]
    if thread:
        event.setdefault("process", {})["thread"] = thread
    labels = {label: fields[name] for name, label in LABELS.items() if fields.get(name) not in (None, *_NONE)}
    if labels:
        event["labels"] = labels
    trace = fields.get("exc_text")
    if trace not in (None, *_NONE):  # set when a formatter formatted the record first
        event["error"] = _error(trace)
    elif fields.get("exc_info") not in (None, *_NONE):  # str() of the (type, value, traceback) tuple
        event["error"] = _exc_info(fields["exc_info"])
    if fields.get("stack_info") not in (None, *_NONE) and "stack_trace" not in event.get("error", {}):
        event.setdefault("error", {})["stack_trace"] = fields["stack_info"]
    return event


_EXC_INFO = re.compile(r"\(<class '([A-Za-z_][\w.]*)'>, [A-Za-z_]\w*\((.*)\), <traceback object at 0x[0-9a-f]+>\)\Z", re.S)


def _exc_info(text: str) -> dict:
    """error.* of `str(record.exc_info)`: the type's name and the exception's argument (the
    handler sends no traceback: logging formats one only for handlers that format)."""
    match = _EXC_INFO.match(text)
    if not match:
        return {"message": text}
    kind = match.group(1)
    error: dict = {"type": kind.removeprefix("builtins.")}
    args = _literal("(" + match.group(2) + ",)") if match.group(2) else ()
    if args and len(args) == 1:
        error["message"] = str(args[0])
    elif match.group(2):
        error["message"] = match.group(2)
    return error


def _message(msg: str, args: str) -> str:
    if args in ("None", "()", "{}", ""):
        return msg
    values = _literal(args)
    if values is not None and _harmless(msg, values):
        try:
            return msg % values
        except (TypeError, ValueError, KeyError, OverflowError):
            pass
    return f"{msg} {args}"


def _literal(text: str):
    if len(text) > MAX_ARGS_CHARS:
        return None
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    return value if isinstance(value, (tuple, dict)) else None


def _harmless(msg: str, values) -> bool:
    """Every conversion plain: a known type, no `*`, widths and precisions of at most 3 digits;
    named ones only with a dict, positional ones only with a tuple."""
    for name, _flags, width, precision, kind in _CONVERSION.findall(msg):
        if kind not in _SAFE_TYPES or width == "*" or precision == "*" or len(width) > 3 or len(precision or "") > 3:
            return False
        if kind != "%" and (name != "") != isinstance(values, dict):
            return False
    return True


def _error(trace: str) -> dict:
    """error.* of a formatted traceback: its last line is `Type: message`."""
    error: dict = {"stack_trace": trace}
    last = trace.rstrip().rsplit("\n", 1)[-1]
    kind, sep, text = last.partition(": ")
    if sep and re.fullmatch(r"[A-Za-z_][\w.]*", kind):
        error["type"] = kind.rsplit(".", 1)[-1] if kind.startswith("builtins.") else kind
        error["message"] = text
    return error
