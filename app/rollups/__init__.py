"""Per-minute rollups: aggregates kept at ingest so long ranges are exact and fast (issue 14).

`model` holds the shapes and the pure reduction of events into them (used at ingest, by the
rebuild command and by brute-force tests alike) and `answer`, `sketch` what they answer and the
latency buckets; the package imports nothing but app/events and app/query, so the storage backends
(app/storage/rollups_sqlite.py, opensearch_rollups.py), which persist and sum them, can use it.
The rebuild (`platlogs rollups rebuild`) reads a store, so it sits beside the stores:
app/storage/rollups_rebuild.py. See docs/rollups.md.
"""
