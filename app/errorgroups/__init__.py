"""Error groups (issue 14.6): errors grouped like an issue tracker.

- the fingerprint: app/events/fingerprint.py, stamped at ingest as `error.fingerprint`;
- the registry (status, first/last seen over all time, merges): app/meta/errorgroups.py;
- sync.py: reads what the store holds into the registry (new groups, regressions);
- service.py: the list over a window (exact counts, a trend), one group's page, status, merge —
  what the Errors page, the JSON API and the alert kinds call.
"""
