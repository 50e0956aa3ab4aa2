"""Migrating a store whose old events sit in year partitions (partitioning.py): every event is
copied once, and verification counts the coarse spans as windows (not one per day)."""
from __future__ import annotations

import pytest

from app.storage import open_store
from app.storage.migrate import migrate
from conftest import store_url_for
from test_store import DAY0, DAY_MS, Y1990, event


@pytest.mark.parametrize("backend", ["sqlite", "opensearch"])
def test_coarse_partitions_migrate_and_verify(backend, tmp_path, request):
    source = open_store(f"sqlite://{tmp_path}/src?day_partition_days=31")
    dest_url = store_url_for(backend, tmp_path / "dest", request).replace("=36500", "=31")
    dest = open_store(dest_url)
    try:
        source.write([event(Y1990 + i * 3 * DAY_MS, f"m-{i}", True) for i in range(2000)] +
                     [event(DAY0 + i * 1000, f"r-{i}", True) for i in range(10)])
        report = migrate(source, dest, batch=500)
        assert report.ok(), report
        assert report.read == 2010 and dest.count() == 2010
        assert len(report.verification.days) <= len(source.partitions()) + 2
        again = migrate(source, dest, batch=500)
        assert again.ok() and dest.count() == 2010
    finally:
        source.close()
        dest.close()
