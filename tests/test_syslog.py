"""Syslog listeners (app/syslog/): the parser on real-world lines, framing, the mapping, and the
listeners end to end — a real `platlogs syslog` process, real sockets, the real store — with
Debian's rsyslog forwarding files over TCP (RFC 5424, octet-counted) and UDP (RFC 3164).

rsyslog runs as a private instance (`rsyslogd -n -f <conf> -i <pidfile>`, its own work
directory): PLATLOGS_TEST_RSYSLOG names the binary (scripts/test sets it, installing Debian's
rsyslog when missing); without it those tests skip, except in CI where they fail.
"""
from __future__ import annotations

import json
import os
import random
import signal
import socket
import ssl
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from app.syslog.framing import Deframer
from app.syslog.mapping import MAX_SD_LABELS, to_event
from app.syslog.parse import parse

ROOT = Path(__file__).resolve().parent.parent
NOW = int(datetime(2026, 12, 3, 10, 30, tzinfo=timezone.utc).timestamp() * 1000)


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


# -- the parser, on real lines --------------------------------------------------------------------

REAL_LINES = [
    # (line, format, facility, severity, time, host, app, procid, msgid, message)
    (b"<38>Dec  3 10:01:02 web1 sshd[2231]: Accepted publickey for deploy from 203.0.113.7 port 50122 ssh2",
     "rfc3164", 4, 6, "2026-12-03T10:01:02+00:00", "web1", "sshd", "2231", None,
     "Accepted publickey for deploy from 203.0.113.7 port 50122 ssh2"),
    (b"<86>Dec  3 09:17:01 web1 CRON[18722]: (root) CMD (   cd / && run-parts --report /etc/cron.hourly)",
     "rfc3164", 10, 6, "2026-12-03T09:17:01+00:00", "web1", "CRON", "18722", None,
     "(root) CMD (   cd / && run-parts --report /etc/cron.hourly)"),
    (b"<4>Dec  3 10:01:01 db2 kernel: [1234567.890123] Out of memory: Killed process 4242 (java)",
     "rfc3164", 0, 4, "2026-12-03T10:01:01+00:00", "db2", "kernel", None, None,
     "[1234567.890123] Out of memory: Killed process 4242 (java)"),
    (b'<190>Dec  3 10:00:00 edge1 nginx: 203.0.113.9 - - [03/Dec/2026:10:00:00 +0000] "GET /api HTTP/1.1" 200 612',
     "rfc3164", 23, 6, "2026-12-03T10:00:00+00:00", "edge1", "nginx", None, None,
     '203.0.113.9 - - [03/Dec/2026:10:00:00 +0000] "GET /api HTTP/1.1" 200 612'),
    (b'<187>Dec  3 10:00:00 edge1 nginx: 2026/12/03 10:00:00 [error] 31#31: *7 connect() failed (111: Connection refused)',
     "rfc3164", 23, 3, "2026-12-03T10:00:00+00:00", "edge1", "nginx", None, None,
     "2026/12/03 10:00:00 [error] 31#31: *7 connect() failed (111: Connection refused)"),
    # a program writing to /dev/log: no host
    (b"<13>Dec  3 10:20:00 myscript[77]: backup done", "rfc3164", 1, 5, "2026-12-03T10:20:00+00:00",
     None, "myscript", "77", None, "backup done"),
    # day padded with a zero, a year, a zone
    (b"<30>Dec 03 2025 10:00:00 UTC host1 app1: with year", "rfc3164", 3, 6, "2025-12-03T10:00:00+00:00",
     "host1", "app1", None, None, "with year"),
    # Cisco IOS: sequence number, '*' (clock not synchronised), milliseconds, zone, mnemonic
    (b"<189>52: *Mar  1 00:01:02.345 UTC: %LINK-3-UPDOWN: Interface GigabitEthernet0/1, changed state to up",
     "rfc3164", 23, 5, "2026-03-01T00:01:02.345+00:00", None, None, None, "LINK-3-UPDOWN",
     "%LINK-3-UPDOWN: Interface GigabitEthernet0/1, changed state to up"),
    (b"<187>1013: router-7: .Nov 30 23:59:59.001 UTC: %SEC-6-IPACCESSLOGP: list 101 denied tcp 10.1.1.1(1234) -> 10.2.2.2(22)",
     "rfc3164", 23, 3, "2026-11-30T23:59:59.001+00:00", "router-7", None, None, "SEC-6-IPACCESSLOGP",
     "%SEC-6-IPACCESSLOGP: list 101 denied tcp 10.1.1.1(1234) -> 10.2.2.2(22)"),
    # Cisco relayed: the relay's header, then the device's counter and time
    (b"<189>Dec  3 10:00:00 switch9 120: Dec  3 10:00:00.345: %SYS-5-CONFIG_I: Configured from console by vty0",
     "rfc3164", 23, 5, "2026-12-03T10:00:00+00:00", "switch9", None, None, "SYS-5-CONFIG_I",
     "%SYS-5-CONFIG_I: Configured from console by vty0"),
    # rsyslog's high-precision forward format: an RFC 3339 time in the 3164 slot
    (b"<134>2026-12-03T11:00:00.123456+01:00 app3 wallet[9]: deposit approved", "rfc3164", 16, 6,
     "2026-12-03T10:00:00.123+00:00", "app3", "wallet", "9", None, "deposit approved"),
    # no time, no host
    (b"<11>myapp: something broke", "rfc3164", 1, 3, None, None, "myapp", None, None, "something broke"),
    # no PRI at all: user.notice
    (b"Dec  3 10:00:00 host2 tag: no pri here", "rfc3164", 1, 5, "2026-12-03T10:00:00+00:00", "host2", "tag",
     None, None, "no pri here"),
    # RFC 5424, the RFC's own examples
    (b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \xef\xbb\xbf'su root' failed for lonvick on /dev/pts/8",
     "rfc5424", 4, 2, "2003-10-11T22:14:15.003+00:00", "mymachine.example.com", "su", None, "ID47",
     "'su root' failed for lonvick on /dev/pts/8"),
    (b"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.",
     "rfc5424", 20, 5, "2003-08-24T12:14:15+00:00", "192.0.2.1", "myproc", "8710", None,
     "%% It's time to make the do-nuts."),
    (b'<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" '
     b'eventSource="Application" eventID="1011"] \xef\xbb\xbfAn application event log entry...',
     "rfc5424", 20, 5, "2003-10-11T22:14:15.003+00:00", "mymachine.example.com", "evntslog", None, "ID47",
     "An application event log entry..."),
    # nil everything, no message
    (b"<14>1 - - - - - -", "rfc5424", 1, 6, None, None, None, None, None, ""),
]


@pytest.mark.parametrize("line,fmt,facility,severity,when,host,app,procid,msgid,message", REAL_LINES,
                         ids=[line[:40].decode("latin-1") for line, *_ in REAL_LINES])
def test_real_lines(line, fmt, facility, severity, when, host, app, procid, msgid, message):
    msg = parse(line, NOW)
    assert (msg.format, msg.facility, msg.severity) == (fmt, facility, severity)
    assert msg.ts_ms == (ms(when) if when else None)
    assert (msg.hostname, msg.app, msg.procid, msg.msgid, msg.message) == (host, app, procid, msgid, message)


def test_structured_data_escapes_and_several_elements():
    line = (b'<165>1 2026-12-03T10:00:00Z h a - - [a@1 q="say \\"hi\\"" b="x\\]y" c="back\\\\slash" d="keep\\n"]'
            b'[timeQuality tzKnown="1" isSynced="0"][empty@2] msg with ] and " inside')
    msg = parse(line, NOW)
    assert msg.sd == {"a@1": {"q": 'say "hi"', "b": "x]y", "c": "back\\slash", "d": "keep\\n"},
                      "timeQuality": {"tzKnown": "1", "isSynced": "0"}, "empty@2": {}}
    assert msg.message == 'msg with ] and " inside'


def test_5424_times_with_zones_and_fractions():
    for stamp, expected in [("2026-12-03T10:00:00Z", "2026-12-03T10:00:00+00:00"),
                            ("2026-12-03T12:00:00.5+02:00", "2026-12-03T10:00:00.5+00:00"),
                            ("2026-12-03T05:30:00.123456789-04:30", "2026-12-03T10:00:00.123+00:00")]:
        assert parse(f"<14>1 {stamp} h a - - - m".encode(), NOW).ts_ms == ms(expected)


def test_unparsable_is_kept_whole():
    for line in [b"just some text", b"<999>out of range pri", b"<13", b"\xff\xfe binary \x00\x01",
                 b"<14>1 not-a-time h a - - - m", b""]:
        msg = parse(line, NOW)
        assert msg.format in ("raw", "rfc3164")
        if msg.format == "raw":
            assert msg.message == line.decode("utf-8", "replace").rstrip("\r\n\x00")
    bad_time = parse(b"<14>1 not-a-time h a - - - m", NOW)      # a 5424 header that is not one: 3164, all kept
    assert "not-a-time h a - - - m" in bad_time.message


@pytest.mark.parametrize("received,line,expected", [
    # the year that is not more than a day ahead of the receive time
    ("2027-01-01T00:00:05+00:00", b"<13>Dec 31 23:59:58 h t: x", "2026-12-31T23:59:58+00:00"),
    ("2026-12-31T23:59:00+00:00", b"<13>Jan  1 00:00:10 h t: x", "2027-01-01T00:00:10+00:00"),
    ("2026-06-15T12:00:00+00:00", b"<13>Jun 16 11:00:00 h t: x", "2026-06-16T11:00:00+00:00"),
    ("2026-06-15T12:00:00+00:00", b"<13>Jun 17 12:00:00 h t: x", "2025-06-17T12:00:00+00:00"),
    ("2026-12-03T10:00:00+00:00", b"<13>Feb 29 12:00:00 h t: x", "2024-02-29T12:00:00+00:00"),
])
def test_3164_year(received, line, expected):
    assert parse(line, ms(received)).ts_ms == ms(expected)


def test_3164_zone_is_the_listeners():
    malta = parse(b"<13>Dec  3 11:00:00 h t: x", NOW, ZoneInfo("Europe/Malta"))
    assert malta.ts_ms == ms("2026-12-03T10:00:00+00:00")
    named = parse(b"<13>Dec  3 10:00:00 UTC: x", NOW, ZoneInfo("Europe/Malta"))   # a line naming UTC
    assert named.ts_ms == ms("2026-12-03T10:00:00+00:00")


def test_parse_never_raises_on_noise():
    rng = random.Random(7)
    alphabet = b"<>[]=\" \\-:0123456789abcMarDec1T.Z+\n\xef\xbb\xbf%*"
    for _ in range(3000):
        line = bytes(rng.choice(alphabet) for _ in range(rng.randrange(0, 80)))
        for prefix in (b"", b"<13>", b"<13>1 ", b"<165>1 2026-12-03T10:00:00Z h a - - ["):
            msg = parse(prefix + line, NOW)
            event = to_event(msg, NOW)
            assert event["@timestamp"]


# -- the mapping ------------------------------------------------------------------------------------

def test_levels_facility_and_fields():
    levels = [to_event(parse(f"<{8 * 4 + s}>1 - h a - - - m".encode(), NOW), NOW)["log"]["level"] for s in range(8)]
    assert levels == ["emergency", "alert", "critical", "error", "warning", "notice", "info", "debug"]
    event = to_event(parse(b'<86>1 2026-12-03T10:00:00Z web1 sshd 42 LOGIN [meta@1 user="x"] hello', NOW),
                     NOW, peer="127.0.0.1")
    assert event["host"] == {"name": "web1"} and event["service"] == {"name": "sshd"}
    assert event["labels"] == {"syslog_format": "rfc5424", "syslog_facility": "authpriv", "syslog_procid": "42",
                               "syslog_msgid": "LOGIN", "syslog_peer": "127.0.0.1", "sd_meta_1_user": "x"}
    assert event["message"] == "hello" and event["tags"] == ["syslog"] and event["process"] == {"pid": 42}


def test_sd_labels_are_bounded_and_control_characters_escaped():
    params = " ".join(f'p{i}="v{i}"' for i in range(100))
    event = to_event(parse(f"<14>1 - h a - - [many@1 {params}] bell\x07 esc\x1b".encode(), NOW), NOW)
    sd = [k for k in event["labels"] if k.startswith("sd_")]
    assert len(sd) == MAX_SD_LABELS and event["labels"]["syslog_sd_dropped"] == str(100 - MAX_SD_LABELS)
    assert event["message"] == "bell#007 esc#033"


def test_mapped_events_pass_the_pipeline(services):
    lines = [line for line, *_ in REAL_LINES] + [b"\x00\x01 raw \x7f", b"<14>1 - - - - - -"]
    report = services.ingestor.ingest(enumerate(to_event(parse(line, NOW), NOW) for line in lines))
    assert report.rejected == 0, report.errors


# -- framing ----------------------------------------------------------------------------------------

def frames_of(data: bytes, max_frame: int = 1000, chunk: int | None = None) -> list[tuple[bytes, bool]]:
    d = Deframer(max_frame)
    out = []
    step = chunk or len(data) or 1
    for i in range(0, len(data), step):
        out += d.feed(data[i:i + step])
    last = d.pending()
    return out + ([(last, False)] if last else [])


def test_octet_counting_and_newlines_told_apart_per_message():
    a, b = b"<13>1 - h a - - - first\nwith LF inside", b"<13>Dec  3 10:00:00 h t: second"
    stream = b"%d %s" % (len(a), a) + b + b"\r\n" + b"%d %s" % (len(b), b) + b"\n\n" + b"<14>last without LF"
    expected = [(a, False), (b, False), (b, False), (b"<14>last without LF", False)]
    for chunk in (None, 1, 2, 3, 7, 64):
        assert frames_of(stream, chunk=chunk) == expected


def test_a_line_starting_with_digits_is_not_a_length():
    assert frames_of(b"2026-12-03 something\n12345678901234 x\n") == [
        (b"2026-12-03 something", False), (b"12345678901234 x", False)]


def test_too_long_frames_are_cut_and_neighbours_kept():
    long_counted = b"x" * 5000
    stream = (b"5 hello" + b"%d %s" % (len(long_counted), long_counted) + b"5 world"
              + b"y" * 3000 + b"\n" + b"after\n")
    for chunk in (None, 1, 100, 999):
        d = Deframer(1000)
        out = []
        step = chunk or len(stream)
        for i in range(0, len(stream), step):
            out += d.feed(stream[i:i + step])
        assert out == [(b"hello", False), (b"x" * 1000, True), (b"world", False), (b"y" * 1000, True), (b"after", False)]
        assert d.truncated == 2
        assert len(d.buf) <= 1000 + step


# -- the listeners, end to end ------------------------------------------------------------------------

class Listener:
    """`platlogs syslog` in a subprocess, on ports the kernel chose, in its own data directory."""

    def __init__(self, data_dir: Path, **env: str):
        self.data_dir = data_dir
        self.env = {**os.environ, "PLATLOGS_DATA_DIR": str(data_dir), "PLATLOGS_SYSLOG_BATCH_MS": "100",
                    "PLATLOGS_SYSLOG_WRITERS": "1", **{f"PLATLOGS_SYSLOG_{k.upper()}": v for k, v in env.items()}}
        self.log = open(data_dir / "listener.log", "w")   # noqa: SIM115
        self.proc = subprocess.Popen([sys.executable, "-m", "app.cli", "syslog"], env=self.env, cwd=ROOT,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status = self.status()
            if status and status["pid"] == self.proc.pid and status["listening"]:
                self.ports = {entry.split()[0]: int(entry.rsplit(":", 1)[1]) for entry in status["listening"]}
                return
            assert self.proc.poll() is None, (data_dir / "listener.log").read_text()
            time.sleep(0.05)
        raise AssertionError("the listener did not start")

    def status(self) -> dict | None:
        try:
            return json.loads((self.data_dir / "syslog-status.json").read_text())
        except (OSError, ValueError):
            return None

    def wait(self, condition, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.status()
            if status and condition(status):
                return status
            time.sleep(0.05)
        raise AssertionError(f"not reached in {timeout} s: {self.status()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)
        self.log.close()

    def events(self) -> list[dict]:
        from app.storage import open_store
        from conftest import all_events
        store = open_store(f"tantivy:///{self.data_dir / 'store'}")
        try:
            return all_events(store)
        finally:
            store.close()

    def search(self, query: str) -> list[dict]:
        """The project's search (the service the pages, the API and the CLI use)."""
        from app.search.params import search_params
        from app.search.service import iter_events
        from app.storage import open_store
        store = open_store(f"tantivy:///{self.data_dir / 'store'}")
        try:
            params = search_params({"q": query, "from": "", "to": "", "size": "1"})
            return list(iter_events(store, params.request, 100))
        finally:
            store.close()


@pytest.fixture
def listener_factory(tmp_path):
    made = []

    def make(**env) -> Listener:
        directory = tmp_path / f"listener{len(made)}"
        directory.mkdir()
        made.append(Listener(directory, **env))
        return made[-1]

    yield make
    for listener in made:
        listener.stop()


def octet(message: bytes) -> bytes:
    return b"%d %s" % (len(message), message)


def test_tcp_both_framings_and_an_over_long_frame(listener_factory):
    listener = listener_factory(tcp="127.0.0.1:0", max_message_bytes="1024")
    port = listener.ports["tcp"]
    huge = b"<11>1 2026-12-03T10:00:00Z h big - - - " + b"A" * 100_000
    with socket.create_connection(("127.0.0.1", port)) as first, socket.create_connection(("127.0.0.1", port)) as second:
        first.sendall(octet(b"<13>1 2026-12-03T10:00:01Z h1 app1 - - - tcp-octet-one")
                      + b"<13>Dec  3 10:00:02 h1 app1: tcp-newline-two\n" + octet(huge)
                      + octet(b"<13>1 2026-12-03T10:00:03Z h1 app1 - - - tcp-after-huge"))
        second.sendall(b"<13>Dec  3 10:00:04 h2 app2: tcp-neighbour\n")
        first.sendall(b"X" * 5000 + b"\n<13>Dec  3 10:00:05 h1 app1: tcp-after-long-line\n")
    status = listener.wait(lambda s: s["stored"] >= 7 and s["connections"]["open"] == 0)
    assert status["received"] == 7 and status["truncated"] == 2 and status["stored"] == 7
    assert status["connections"]["total"] == 2 and not status["refused"]
    events = {e.get("message", "")[:40]: e for e in listener.events()}
    assert {"tcp-octet-one", "tcp-newline-two", "tcp-after-huge", "tcp-neighbour", "tcp-after-long-line"} <= set(events)
    cut = [e for e in events.values() if e["labels"].get("syslog_truncated") == "true"]
    assert len(cut) == 2 and {e.get("service", {}).get("name") for e in cut} == {"big", None}


def test_tls(listener_factory, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=localhost"], check=True, capture_output=True)
    listener = listener_factory(tls="127.0.0.1:0", tls_cert=str(cert), tls_key=str(key))
    context = ssl.create_default_context(cafile=str(cert))
    with socket.create_connection(("127.0.0.1", listener.ports["tls"])) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(b"".join(octet(b"<14>1 2026-12-03T10:00:00Z tls-host tlsapp - - - over-tls-%d" % i)
                                 for i in range(50)))
    with socket.create_connection(("127.0.0.1", listener.ports["tls"])) as raw:   # plain text on TLS: refused, no harm
        raw.sendall(b"<14>1 - h a - - - not tls\n")
    status = listener.wait(lambda s: s["stored"] >= 50 and s["connections"]["open"] == 0)
    assert status["by_protocol"]["tls"]["received"] == 50
    found = listener.search('"over-tls-7"')
    assert len(found) == 1 and found[0]["host"]["name"] == "tls-host" and found[0]["service"]["name"] == "tlsapp"


def test_udp_flood_is_counted_not_silent(listener_factory):
    listener = listener_factory(udp="127.0.0.1:0", queue="50", batch_size="50")
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sent = 20_000
    for i in range(sent):
        sender.sendto(b"<14>Dec  3 10:00:00 flood app: udp flood %d" % i, ("127.0.0.1", listener.ports["udp"]))
    sender.close()
    status = listener.wait(lambda s: s["received"] + s["dropped"]["kernel"] == sent and s["queue"] == 0
                           and s["stored"] + s["dropped"]["queue_full"] == s["received"], timeout=90)
    lost = status["dropped"]["queue_full"] + status["dropped"]["kernel"]
    assert lost > 0, status          # this flood does not fit: what was lost is counted ...
    assert status["stored"] + lost == sent
    assert len(listener.events()) == status["stored"]    # ... and what was counted stored is stored


def test_a_writer_process_that_dies_is_replaced(listener_factory):
    listener = listener_factory(tcp="127.0.0.1:0")
    writers = [pid for pid in Path(f"/proc/{listener.proc.pid}/task/{listener.proc.pid}/children").read_text().split()
               if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    assert len(writers) == 1
    os.kill(int(writers[0]), signal.SIGKILL)       # as a crash in native code would
    with socket.create_connection(("127.0.0.1", listener.ports["tcp"])) as conn:
        conn.sendall(b"".join(b"<14>Dec  3 10:00:00 h app: after the crash %d\n" % i for i in range(20)))
    status = listener.wait(lambda s: s["stored"] + s["dropped"]["storage"] >= 20)
    assert status["stored"] == 20 and status["dropped"]["storage"] == 0
    assert listener.proc.poll() is None


def test_serve_starts_the_listeners_once(tmp_path):
    env = {**os.environ, "PLATLOGS_DATA_DIR": str(tmp_path), "PLATLOGS_SYSLOG_TCP": "127.0.0.1:0",
           "PLATLOGS_SYSLOG_UDP": "127.0.0.1:0", "PLATLOGS_SYSLOG_WRITERS": "1", "PLATLOGS_SYSLOG_BATCH_MS": "100"}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(tmp_path / "serve.log", "w")   # noqa: SIM115
    serve = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers", "2"],
                             env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        listener = Listener.__new__(Listener)
        listener.data_dir = tmp_path
        status = listener.wait(lambda s: s["listening"], timeout=60)
        children = Path(f"/proc/{serve.pid}/task/{serve.pid}/children").read_text().split()
        assert str(status["pid"]) in children       # a child of gunicorn's master ...
        for pid in children:                        # ... and the only listener (no worker runs one)
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            assert (b"syslog" in cmdline) == (pid == str(status["pid"]))
        tcp = int(status["listening"][0].rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", tcp)) as conn:
            conn.sendall(b"<14>Dec  3 10:00:00 h app: via serve\n")
        listener.wait(lambda s: s["stored"] == 1)
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(60)
        log.close()
    with pytest.raises(ProcessLookupError):     # stopped with the server
        os.kill(status["pid"], 0)


# -- Debian's rsyslog, a private instance -----------------------------------------------------------

@pytest.fixture(scope="session")
def rsyslogd() -> str:
    binary = os.environ.get("PLATLOGS_TEST_RSYSLOG")
    if binary:
        return binary
    if os.environ.get("PLATLOGS_CI") == "1":
        pytest.fail("PLATLOGS_TEST_RSYSLOG is not set: no rsyslogd, and CI requires it (scripts/test installs it)",
                    pytrace=False)
    pytest.skip("PLATLOGS_TEST_RSYSLOG not set: no rsyslogd (scripts/test installs Debian's rsyslog when it can)")


def run_rsyslog(rsyslogd: str, directory: Path, inputs: list[tuple[Path, str, str, str]], action: str):
    """rsyslogd -n with its own config, pid file and work directory; imfile reads each input
    (file, tag, severity, facility) and the one `action` forwards it."""
    work = directory / "work"
    work.mkdir()
    conf = [f'global(workDirectory="{work}" localHostName="rsyslog-host")',
            'module(load="imfile" mode="polling" PollingInterval="1")',
            'ruleset(name="forward") {', f"  {action}", "}"]
    for path, tag, severity, facility in inputs:
        conf.append(f'input(type="imfile" File="{path}" Tag="{tag}" Severity="{severity}" Facility="{facility}" '
                    'ruleset="forward" freshStartTail="off")')
    (directory / "rsyslog.conf").write_text("\n".join(conf) + "\n")
    check = subprocess.run([rsyslogd, "-N1", "-f", str(directory / "rsyslog.conf")], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr + check.stdout
    log = open(directory / "rsyslog.log", "w")   # noqa: SIM115
    return subprocess.Popen([rsyslogd, "-n", "-f", str(directory / "rsyslog.conf"), "-i", str(directory / "rsyslog.pid")],
                            env={**os.environ, "TZ": "UTC"}, stdout=log, stderr=subprocess.STDOUT)


def write_lines(directory: Path, name: str, prefix: str, count: int) -> tuple[Path, list[str]]:
    ids = [f"{prefix}-{i:04d}-{random.getrandbits(32):08x}" for i in range(count)]
    path = directory / name
    path.write_text("".join(f"line {i} of {name}: player p-{i} did something id={token}\n" for i, token in enumerate(ids)))
    return path, ids


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_rsyslog_forwards_every_line_once(rsyslogd, listener_factory, tmp_path, transport):
    listener = listener_factory(**{transport: "127.0.0.1:0"})
    port = listener.ports[transport]
    game, game_ids = write_lines(tmp_path, "game.log", f"{transport}-game", 150)
    pay, pay_ids = write_lines(tmp_path, "payments.log", f"{transport}-pay", 150)
    if transport == "tcp":    # RFC 5424, octet-counted (RFC 6587)
        action = (f'action(type="omfwd" target="127.0.0.1" port="{port}" protocol="tcp" TCP_Framing="octet-counted" '
                  'template="RSYSLOG_SyslogProtocol23Format" action.resumeRetryCount="-1")')
    else:                     # RFC 3164
        action = (f'action(type="omfwd" target="127.0.0.1" port="{port}" protocol="udp" '
                  'template="RSYSLOG_TraditionalForwardFormat")')
    # imfile's Tag ends with ':' (as rsyslog's docs write it): in RFC 3164 that ends the TAG
    rsyslog = run_rsyslog(rsyslogd, tmp_path, [(game, "gameapp:", "warning", "local3"),
                                               (pay, "payments:", "err", "local4")], action)
    try:
        listener.wait(lambda s: s["stored"] >= 300, timeout=90)
    finally:
        rsyslog.send_signal(signal.SIGTERM)
        rsyslog.wait(30)
    status = listener.wait(lambda s: s["queue"] == 0)
    assert status["stored"] == 300 and status["raw"] == 0 and not status["refused"], status
    expected = [(token, "gameapp", "warning", "local3") for token in game_ids] + \
               [(token, "payments", "error", "local4") for token in pay_ids]
    for token, app, level, facility in expected[::10]:        # the project's search, by id
        found = listener.search(f'"{token}"')
        assert len(found) == 1, (token, found)
        event = found[0]
        assert event["host"]["name"] == "rsyslog-host" and event["service"]["name"] == app
        assert event["log"]["level"] == level and event["labels"]["syslog_facility"] == facility
        assert event["labels"]["syslog_format"] == ("rfc5424" if transport == "tcp" else "rfc3164")
        assert token in event["message"] and not event["message"].startswith(" ")
    messages = [e["message"] for e in listener.events()]      # every line, none twice
    assert sorted(m.rsplit("id=", 1)[1] for m in messages) == sorted(game_ids + pay_ids)
