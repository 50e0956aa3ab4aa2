"""Index templates and retention policies for the OpenSearch backend, kept as data in
index_templates/ and installed at start-up (idempotent: a template is only written when the
cluster holds an older version).

The common component template's field mappings are derived from app/events/schema.yaml by
`common_template()`; the committed index_templates/platlogs-common.json must equal it (a test
fails when it is stale; `platlogs templates --write` refreshes it). The per-component index
templates (with each component's rollover bounds in `_meta.rollover`) and the ISM retention
policies are written by hand.

Two ISM policies per component, from the one file in index_templates/retention/:
- `<prefix>-<component>-retention` as written, for the calendar indices of the old daily layout
  (`min_index_age` counts from the index's creation, which was its day);
- `<prefix>-<component>-rollover-retention`, derived for the generations (opensearch_layout.py):
  the same states, but ages count from the generation's rollover (`min_rollover_age`: a
  generation keeps receiving events until then) and deletion waits one day more, for the events
  the generation took in the rollover margin (at most an hour) after it was cut. The newest
  generation is never rolled over, so ISM never deletes it. Its pattern `<prefix>-<component>-g*`
  has the higher priority, so a generation gets this policy and a calendar index the other.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..events.schema import load_schema

COMMON = "platlogs-common"
READ_ALIAS = "platlogs-events"
KEYWORD_LIMIT = 8191  # characters: longer keyword values stay in _source but are not indexed

# One analyzer for every full-text field, splitting like the embedded store's FTS5 unicode61
# tokenizer: runs of letters and digits, lower-cased, accents removed. Words are cut at 8,000
# characters: Lucene refuses a whole document holding a term over 32,766 bytes (a hostile
# 60,000-character word), and 8,000 characters are at most 32,000 bytes of UTF-8.
MAX_TERM_CHARS = 8000
ANALYSIS = {
    "analyzer": {
        "platlogs_words": {
            "type": "custom",
            "tokenizer": "platlogs_alnum",
            "filter": ["lowercase", "asciifolding", "platlogs_term_cap"],
        },
    },
    # whole values compared in any case, accents folded (term and prefix queries are normalised too)
    "normalizer": {"platlogs_fold": {"type": "custom", "filter": ["lowercase", "asciifolding"]}},
    "tokenizer": {"platlogs_alnum": {"type": "pattern", "pattern": "[^\\p{L}\\p{N}]+"}},
    "filter": {"platlogs_term_cap": {"type": "truncate", "length": MAX_TERM_CHARS}},
}


# Where a bare term looks (app/query/searchable.py sorts an event's values into these at write
# time; app/query/dsl.py queries them): an object of index-only fields, excluded from _source.
SEARCH = "platlogs_search"
FOLDED = "fold"  # the subfield of an identifier that field:VALUE queries in any case
_FOLDED_KEY = {"type": "keyword", "normalizer": "platlogs_fold", "ignore_above": KEYWORD_LIMIT}
_WORDS = {"type": "text", "analyzer": "platlogs_words", "norms": False}  # hits are sorted by time, never scored


def _mapping(field) -> dict:
    kind = field.type
    if kind == "text":
        if not field.fulltext:  # field:value is a substring, never word by word; `.words` for a bare term
            return {"type": "wildcard", "fields": {"words": _WORDS}}
        # `.raw` checks that a phrase occurs as written (a substring, case-insensitive)
        return {"type": "text", "analyzer": "platlogs_words", "fields": {"raw": {"type": "wildcard"}}}
    if kind in ("keyword", "tags"):
        out = {"type": "keyword", "ignore_above": KEYWORD_LIMIT}
        if field.identifier:  # as sent (facets show it), and folded for field:VALUE in any case
            out["fields"] = {FOLDED: _FOLDED_KEY}
        return out
    if kind == "ip":  # compared as written (like the embedded store); `.ip` for CIDR in Dashboards
        fields = {"ip": {"type": "ip", "ignore_malformed": True}}
        if field.identifier:
            fields[FOLDED] = {**_FOLDED_KEY, "ignore_above": 64}
        return {"type": "keyword", "ignore_above": 64, "fields": fields}
    if kind == "date":
        return {"type": "date", "format": "strict_date_optional_time||epoch_millis"}
    if kind in ("long", "double"):
        return {"type": kind, "ignore_malformed": True}
    if kind == "boolean":
        return {"type": "boolean"}
    if kind == "labels":  # free-form keys: one field in the mapping however many keys arrive
        return {"type": "flat_object"}
    if kind == "changes":  # before/after values of any type stay in _source only
        return {"type": "object", "dynamic": False, "properties": {"field": {"type": "keyword"}}}
    raise ValueError(f"no OpenSearch mapping for schema type {kind!r}")


def common_template(version: int) -> dict:
    """The component template every platlogs index is composed of: settings and all schema fields."""
    properties: dict = {}
    for field in load_schema().fields.values():
        node = properties
        for part in field.path[:-1]:
            node = node.setdefault(part, {"properties": {}})["properties"]
        node[field.path[-1]] = _mapping(field)
    properties[SEARCH] = {
        "properties": {"keys": _FOLDED_KEY, "words": _WORDS, "personal_keys": _FOLDED_KEY, "personal_words": _WORDS}
    }
    return {
        "version": version,
        "_meta": {
            "description": "Platform Logs: settings and mappings shared by every component. "
            "Generated from app/events/schema.yaml; do not edit by hand."
        },
        "template": {
            "settings": {
                "index": {
                    "auto_expand_replicas": "0-1",
                    "refresh_interval": "1s",
                    "sort.field": ["@timestamp"],  # newest-first pages stop early in every segment
                    "sort.order": ["desc"],
                    "mapping.total_fields.limit": 1000,
                    "mapping.depth.limit": 10,
                    "analysis": ANALYSIS,
                },
            },
            "mappings": {
                # which template made an index: a generation older than the installed template is
                # cut early, so new mappings apply from the next generation on (opensearch_rollover.py)
                "_meta": {"template_version": version},
                "dynamic": False,  # unknown fields stay in _source, never in the mapping
                "date_detection": False,
                "_source": {"excludes": [SEARCH]},
                "properties": properties,
            },
            "aliases": {READ_ALIAS: {}},
        },
    }


def template_dir() -> Path:
    """PLATLOGS_TEMPLATES_DIR, else the shipped templates (app/shipped/index_templates: config.directory_setting)."""
    from ..config import directory_setting

    return directory_setting("TEMPLATES_DIR")


def template_version() -> int:
    return json.loads((template_dir() / f"{COMMON}.json").read_text())["version"]


def component_templates() -> dict[str, dict]:
    """Index templates per log component, by name (index_templates/platlogs-<component>.json)."""
    out = {}
    for component in load_schema().components:
        name = f"platlogs-{component}"
        out[name] = json.loads((template_dir() / f"{name}.json").read_text())
    return out


def retention_policies() -> dict[str, dict]:
    """ISM policies by id (index_templates/retention/*.json)."""
    return {path.stem: json.loads(path.read_text()) for path in sorted((template_dir() / "retention").glob("*.json"))}


def generation_policy(policy: dict) -> dict:
    """The generations' variant of a retention policy (see the module's docstring)."""
    body = json.loads(json.dumps(policy))
    inner = body["policy"]
    inner["description"] = inner.get("description", "") + " (generations: ages count from the rollover)"
    for state in inner["states"]:
        for transition in state.get("transitions", []):
            conditions = transition.get("conditions") or {}
            if "min_index_age" in conditions:
                age = conditions.pop("min_index_age")
                if transition.get("state_name") == "delete" and age.endswith("d"):
                    age = f"{int(age[:-1]) + 1}d"
                conditions["min_rollover_age"] = age
    for t in inner.get("ism_template", []):
        t["index_patterns"] = [p.removesuffix("*") + "g*" for p in t["index_patterns"]]
        t["priority"] = t.get("priority", 100) + 100
    return body


def all_policies() -> dict[str, dict]:
    """Every ISM policy by id: each retention policy and its generations' variant."""
    out = {}
    for policy_id, body in retention_policies().items():
        out[policy_id] = body
        out[policy_id.removesuffix("-retention") + "-rollover-retention"] = generation_policy(body)
    return out


def rollover_meta() -> dict[str, dict]:
    """Each component's rollover bounds as written in its index template (`_meta.rollover`)."""
    return {name.removeprefix("platlogs-"): body["_meta"]["rollover"] for name, body in component_templates().items()}


def renamed(name: str, prefix: str) -> str:
    """A name of index_templates/ (`platlogs…`) under another index prefix."""
    return prefix + name[len("platlogs") :] if name.startswith("platlogs") else name


def install(client, prefix: str, read_alias: str, exceptions) -> bool:
    """Writes the component template, the per-component index templates and (where the cluster
    has Index State Management) the retention policies, each only when missing or older than the
    version in index_templates/. True when the cluster has ISM."""
    common = json.loads(json.dumps(common_template(template_version())))
    common["template"]["aliases"] = {read_alias: {}}
    name = renamed(COMMON, prefix)
    if _installed_version(client, "component", name) != common["version"]:
        client.cluster.put_component_template(name=name, body=common)
    for tpl_name, body in component_templates().items():
        body = dict(
            body,
            index_patterns=[renamed(p, prefix) for p in body["index_patterns"]],
            composed_of=[renamed(c, prefix) for c in body["composed_of"]],
        )
        name = renamed(tpl_name, prefix)
        if _installed_version(client, "index", name) != body["version"]:
            client.indices.put_index_template(name=name, body=body)
    return _install_policies(client, prefix, exceptions)


def _installed_version(client, kind: str, name: str) -> int | None:
    if kind == "component":
        found = client.cluster.get_component_template(name=name, ignore=404)
        return (found.get("component_templates") or [{}])[0].get("component_template", {}).get("version")
    found = client.indices.get_index_template(name=name, ignore=404)
    return (found.get("index_templates") or [{}])[0].get("index_template", {}).get("version")


def _install_policies(client, prefix: str, exceptions) -> bool:
    """ISM policies, when the plugin is there; False when it is not (retention then runs in the app)."""
    for policy_id, body in all_policies().items():
        body = json.loads(json.dumps(body))
        for t in body["policy"].get("ism_template", []):
            t["index_patterns"] = [renamed(p, prefix) for p in t["index_patterns"]]
        try:
            client.transport.perform_request("PUT", f"/_plugins/_ism/policies/{renamed(policy_id, prefix)}", body=body)
        except exceptions.ConflictError:
            pass  # installed already (policies change through the cluster's own tools)
        except (exceptions.NotFoundError, exceptions.RequestError):
            return False  # no ISM plugin on this cluster
    return True


def retention_days() -> dict[str, int]:
    """Days each component is kept, read from its policy's delete transition (`min_index_age`)."""
    days = {}
    for policy_id, body in retention_policies().items():
        component = policy_id.removeprefix("platlogs-").removesuffix("-retention")
        for state in body["policy"]["states"]:
            for transition in state.get("transitions", []):
                if transition.get("state_name") == "delete":
                    age = transition["conditions"]["min_index_age"]
                    if not age.endswith("d"):
                        raise ValueError(f"{policy_id}: min_index_age {age!r} must be in days (e.g. 90d)")
                    days[component] = int(age[:-1])
    return days
