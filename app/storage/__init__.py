"""Storage backends, chosen by URL scheme. Imports are lazy so a backend's driver is only needed
when it is used."""

from __future__ import annotations

from importlib import import_module
from urllib.parse import urlsplit

from .base import (
    Bucket,
    CursorError,
    Facet,
    FacetValue,
    LogStore,
    Partition,
    SearchRequest,
    SearchResult,
    StoreError,
    WriteResult,
)

BACKENDS = {
    "sqlite": "app.storage.sqlite:SQLiteStore",
    "tantivy": "app.storage.tantivy_store:TantivyStore",
    "opensearch": "app.storage.opensearch:OpenSearchStore",
    "opensearch+https": "app.storage.opensearch:OpenSearchStore",
}

__all__ = [
    "BACKENDS",
    "Bucket",
    "CursorError",
    "Facet",
    "FacetValue",
    "LogStore",
    "Partition",
    "SearchRequest",
    "SearchResult",
    "StoreError",
    "WriteResult",
    "open_store",
]


def open_store(url: str, **options) -> LogStore:
    scheme = urlsplit(url).scheme
    if scheme not in BACKENDS:
        raise ValueError(f"unknown store URL scheme {scheme!r} in {url!r}; expected one of: " + ", ".join(BACKENDS))
    module, _, name = BACKENDS[scheme].partition(":")
    return getattr(import_module(module), name).from_url(url, **options)
