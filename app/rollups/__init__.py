"""Per-minute rollups: aggregates kept at ingest so long ranges are exact and fast (issue 14).

`model` holds the shapes and the pure reduction of events into them (used at ingest, by the
rebuild command and by brute-force tests alike); each storage backend persists and sums them.
"""
