"""Syslog listeners (issue 15 item 3): RFC 3164 / 5424 over TCP (RFC 6587 framing), TLS (RFC 5425)
and UDP, into the same ingest pipeline as every other way in.

  parse.py      one message's bytes -> its parts (never refuses: unreadable -> the raw line)
  mapping.py    parts -> an event of the schema (the mapping table is its docstring)
  framing.py    a TCP stream -> frames (octet counting or LF, per message; too long: cut)
  listeners.py  asyncio TCP/TLS/UDP listeners, the bounded batcher, back-pressure and drops
  (the counters, written to <data dir>/syslog-status.json each second: app/ingest/syslog_status.py)
  server.py     `platlogs syslog`, and the child process `platlogs serve` starts
"""
