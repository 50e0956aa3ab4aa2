"""Per-minute rollups: aggregates kept at ingest so long ranges are exact and fast (issue 14).

`model` holds the shapes and the pure reduction of events into them (used at ingest, by the
rebuild command and by brute-force tests alike) and `sketch` the latency buckets; both import
nothing but app/events, so the storage backends (app/storage/rollups_sqlite.py,
opensearch_rollups.py), which persist and sum them, can use them. `rebuild` is a service above
the stores (`platlogs rollups rebuild`). See docs/rollups.md.
"""
