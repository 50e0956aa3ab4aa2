"""Why ingest refused an item or a request: a fixed vocabulary (bounded, and what an operator acts
on), defined here once.

A refusal's kind travels with it from where it is raised, never read back from its words (reasons
are for people and may be reworded):
- an item: the `kind` of its EventError (app/events/convert.py) — SCHEMA unless raised with another
  or fixed by its type (app/ingest/ndjson.py: Oversized and BodyLimitError are TOO_LARGE,
  BrokenBody BAD_REQUEST); a store's answer (WriteResult.failed: STORAGE, .refused: SCHEMA);
- an Elasticsearch _bulk action line refused before the pipeline: the kind it was refused with
  (app/ingest/es_bulk.py);
- a request refused as a whole: by its HTTP status (app/ingest/stats.request_reason).
The pipeline counts them in IngestReport.refused; the ingest status (app/ingest/stats.py,
status.py) shows them with these descriptions."""

from __future__ import annotations

TOO_LARGE = "too_large"
BAD_JSON = "bad_json"
REPEATED_KEY = "repeated_key"
LIMITS = "limits"
SCHEMA = "schema"
TIME = "time"
AUTH = "auth"
UNSUPPORTED = "unsupported"
BAD_REQUEST = "bad_request"
BACK_PRESSURE = "back_pressure"
STORAGE = "storage"
OTHER = "other"

REASONS: dict[str, str] = {
    TOO_LARGE: "too large (event, line or body over a limit)",
    BAD_JSON: "not JSON (malformed, bad UTF-8, not an object)",
    REPEATED_KEY: "a key given twice in one object",
    LIMITS: "too deep or too many fields",
    SCHEMA: "a field of the wrong type or value (schema)",
    TIME: "@timestamp too old or in the future",
    AUTH: "no key, a bad key, or a key without the ingest scope (401/403)",
    UNSUPPORTED: "unsupported content type or encoding (415)",
    BAD_REQUEST: "a bad request (400: empty body, bad gzip, bad action line)",
    BACK_PRESSURE: "back-pressure or rate limit (429/503 before storing)",
    STORAGE: "storage unavailable (503: the sender retries)",
    OTHER: "other",
}
