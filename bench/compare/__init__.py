"""bench/compare: Platform Logs side by side with the best embedded engines — the same file, the
same seven queries, one run — printing each figure and the project's ratio to the best peer.

    .venv/bin/pip install -e '.[bench]'        # tantivy, DuckDB (+ its fts extension), chDB, psutil
    .venv/bin/python -m bench.compare                       # 1,000,000 events, 30 runs a query
    .venv/bin/python -m bench.compare --events 100000 --repeat 10 --only project,tantivy
    .venv/bin/python -m bench.compare --store tantivy --json var/bench/compare.json

Run it from the repository root (`python bench/compare/__main__.py` works too). It exits 1
when the systems' counts disagree, 2 when a system or a query failed (both printed loudly).

Data. One NDJSON file of N demo events over the 30 days before the last UTC midnight, from the
project's own generator (app.demo.generator, seed 12), kept under var/bench/ keyed by N, seed and
day, so repeated runs reuse it (about 565 bytes an event). Every system gets this file.

Ingest, each system in a fresh directory and, apart from the HTTP server, a process of its own
(so its peak RSS — Linux VmHWM — is its own):
  Platform Logs, HTTP   `platlogs serve` (2 workers × 4 threads) with the store of `--store`
                        (sqlite, or tantivy: `tantivy://<dir>`, skipped with a message while
                        app.storage.BACKENDS has no such store), NDJSON batches of 5,000 to
                        POST /api/v1/events/bulk from 2 sender threads on keep-alive
                        connections; peak RSS of the largest server process; CPU seconds per
                        server process are printed in the notes (are both workers busy?).
  Platform Logs, in-process  the same file through Normalizer.normalize + store.write in batches
                        of 5,000 in one thread: the ingest code without HTTP.
  raw SQLite            a plain table (ts, the seven keyword columns, message, the line),
                        B-tree indexes on ts, actor_id and correlation_id, FTS5 of the message
                        (external content, positions); executemany per batch, WAL,
                        synchronous=FULL as the project.
  tantivy               2 indexing threads; ts an i64 fast field of epoch ms (the bindings'
                        date fields keep whole seconds, which would reorder hits inside a
                        second), message tokenized with positions, the keyword fields raw and
                        fast, the line stored; one commit, merges waited for.
  DuckDB                the file read by DuckDB's NDJSON reader (lines kept whole, fields
                        extracted in one JSON parse) + PRAGMA create_fts_index on the message.
                        The fts extension comes from the duckdb-ext-fts wheel (pinned with
                        duckdb in the `bench` extra) or INSTALL; without it, words and phrases
                        fall back to regexp/ILIKE and the notes say so.
  chDB                  MergeTree ordered by ts, text index on the message (lower-cased
                        tokens), bloom filters on the two keys, OPTIMIZE FINAL before du.
Every system indexes the timestamp, the message and the same seven keyword fields — actor.id,
correlation.id, log.level, service.name, event.outcome, actor.type, integration.provider — and
keeps the whole line. (event.component/type are left out: the project's classifier fills them
for the demo events that lack them, so a peer would count them differently.) Rate = events /
wall time from the first byte read to the last commit (and merge, index build or OPTIMIZE);
bytes per event = the directory's allocated blocks afterwards / events.

Queries, each `--repeat` times (default 30) after 3 warm-ups, p50 and p95 in ms; every system
returns the newest 50 hits (their lines parsed) and the exact count:
  a. exact actor.id (the file's most frequent value), newest 50 + count
  b. exact correlation.id (the most frequent value)
  c. a rare word over 30 days          d. a common word + 5 facets + hourly histogram, 30 days
  e. all events + 5 facets + hourly histogram, 30 days
  f. a two-word phrase, 30 days        g. the common word + facets + histogram, last 24 h
The project runs them through `open_store(url).search(SearchRequest(...))` with unbounded
total_bound, facet_bound and budget_ms (exact), and again through GET /api/v1/search as served
(totals bounded at 10,000, facets over the newest matches: not checked when not exact).

How the words are chosen (bench/compare/common.py, pick_values): from the file's messages,
ASCII-letter words found neither in error.message nor as the whole value of an id key — the
project's free word searches those too, so such a word would be counted differently — the rare one in
the number of events nearest 5 (no names: always lower case, in no name or e-mail), the common
one in the number nearest 8 %, and the phrase the adjacent pair of such words nearest 2 % whose
lower-cased substring occurs in exactly the events where the tokens are adjacent (the project
checks a phrase as a substring, the peers by token position). The values are cached beside the
file (`.picks5.json`).
Then the check: for every query, every exact system's count, hit timestamps and, for d/e/g, the
five facets (counts, and values above the last one shown, which ties may reorder) and the
histogram must equal the project's; each difference prints a loud DISAGREE line.

Output: a markdown table of ingest (events/s, bytes/event, peak RSS, the project's ratios to the
best peer), of queries (p50 / p95 per system, the exact project's ratio to the best peer) and of
counts, with the machine (cores, CPU, RAM, Python, versions). `--json FILE` writes it all.
The machine is shared and noisy (the load average is printed): compare the ratios measured in
one run, not absolute figures across runs. bench/compare/LATEST.md keeps the last full table.
"""
