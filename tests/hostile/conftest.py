"""Worlds for the hostile corpus: one real app (data directory, meta DB, store, reading trail)
per backend and purpose, shared by every case of the module (creating a store per case would
make the corpus slow; strings that must never be stored are unique per case, see corpus.py).

  worlds(backend, name)  -> World: created on first use, closed (and its OpenSearch indices
                            dropped) when the module ends. Ingest paths get a world each, so a
                            leak on one path cannot be blamed on another; the read routes share
                            one world, seeded once with every read case's events.
"""
from __future__ import annotations

import gc
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from app import create_app
from conftest import make_persona, store_url_for

from . import scan


class World:
    def __init__(self, backend: str, name: str, root: Path, store_url: str, node_url: str | None):
        self.backend, self.name, self.root = backend, name, root
        self.data_dir = root / "data"
        self.scratch = root.parent / f"{root.name}-scratch"   # input files (the CLI's): not scanned
        self.scratch.mkdir(exist_ok=True)
        self.store_url = store_url
        self.node_url = node_url
        self.prefix = parse_qs(urlsplit(store_url).query).get("prefix", [None])[0]
        self.env = {"PLATLOGS_DATA_DIR": str(self.data_dir), "PLATLOGS_STORE": store_url}
        self.app = create_app(self.env)
        self.services = self.app.extensions["platlogs"]
        self.ingest_key = self.services.meta.create_key("corpus ingest", ["ingest"])[1]
        self.client = self.app.test_client()
        self._personas: dict[str, object] = {}
        self.leaked: dict[str, str] = {}     # needle -> the test that first found it stored
        self._node = None
        self.seed_failures: dict[str, str] = {}   # read case id -> why its seed is not stored

    @property
    def ingest_headers(self) -> dict:
        return {"Authorization": f"Bearer {self.ingest_key}"}

    def persona(self, role: str):
        """A test client signed in as this world's user of `role` (username `<role>-hx`)."""
        if role not in self._personas:
            self._personas[role] = make_persona(self.app, role, f"{role}-hx")
        return self._personas[role]

    def refresh(self) -> None:
        """OpenSearch: make what another process (the CLI) or the trail wrote searchable now."""
        if self.backend == "opensearch":
            if self._node is None:
                from opensearchpy import OpenSearch
                self._node = OpenSearch(self.node_url, timeout=120)   # a shared test node can be slow
            self._node.indices.refresh(index=f"{self.prefix}*", params={"ignore_unavailable": "true",
                                                                        "allow_no_indices": "true"})

    def disk_hits(self, needles: list[str]) -> dict[str, list[str]]:
        """needle -> where it is stored: every file under the world's root (both backends: meta DB,
        SQLite stores) and, on OpenSearch, every document's _source under this world's prefix."""
        found = scan.file_hits(self.root, needles)   # the data dir and the SQLite store
        if self.backend == "opensearch":
            for needle, where in scan.opensearch_hits(self.node_url, self.prefix, needles).items():
                found.setdefault(needle, []).extend(where)
        return found

    def close(self) -> None:
        self.services.close()
        if self._node is not None:
            self._node.close()


@pytest.fixture(scope="module")
def worlds(request, tmp_path_factory):
    made: dict[tuple[str, str], World] = {}

    def get(backend: str, name: str) -> World:
        if (backend, name) not in made:
            root = tmp_path_factory.mktemp(f"hx-{backend}-{name}")
            node = request.getfixturevalue("opensearch_url") if backend == "opensearch" else None
            made[backend, name] = World(backend, name, root, store_url_for(backend, root, request), node)
        return made[backend, name]

    yield get
    for world in made.values():
        world.close()
    gc.collect()


@pytest.fixture(scope="session", autouse=True)
def _scan_worker():
    yield
    scan.shutdown()
