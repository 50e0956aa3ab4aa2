"""Card numbers in real log lines, both directions (issue 15 item 6; the rule: app/events/pan.py).

Lines shaped like the LogHub datasets (HDFS, Hadoop, Apache, sshd, Android, OpenStack) and like
web access logs. The ids below were chosen to pass every card check (13-19 digits, a card's first
digit, Luhn-valid: `test_the_identifiers_would_pass_as_cards` holds them to it), so each
identifier case would be rewritten by a rule that ignores what the digits are glued to — as
6 % of a real HDFS sample was.
"""
from __future__ import annotations

import re

import orjson
import pytest

from app.events.pan import is_pan
from app.events.redact import Redactor

# Luhn-valid, card-like digit runs (random ids that happen to pass, as 1 in 20 does)
IDS = ["6575095350281965251", "3616473075620909770", "4104723742591682", "5300362236838439",
       "6044868234037591", "4061540354810427969", "4918364206826314397", "356757147217660414"]

# -- identifiers: never rewritten ------------------------------------------------------------------

NOT_CARDS = [
    # HDFS (LogHub HDFS_1): block ids, negative and positive, with and without a generation stamp
    f"081109 203518 143 INFO dfs.DataNode$DataXceiver: Receiving block blk_-{IDS[0]} src: /10.250.19.102:54106 "
    "dest: /10.250.19.102:50010",
    f"081109 203519 145 INFO dfs.FSNamesystem: BLOCK* NameSystem.addStoredBlock: blockMap updated: "
    f"10.251.73.220:50010 is added to blk_{IDS[1]} size 67108864",
    f"081109 204005 35 INFO dfs.FSNamesystem: BLOCK* NameSystem.allocateBlock: /user/root/rand/_temporary/"
    f"_task_200811092030_0001_m_000590_0/part-00590. blk_-{IDS[5]}",
    f"081111 080915 19 INFO dfs.FSDataset: Deleting block blk_{IDS[6]}_1001 file "
    f"/mnt/hadoop/dfs/data/current/subdir17/blk_{IDS[6]}",
    f"081110 103049 30 WARN dfs.DataNode: 10.251.107.196:50010:Got exception while serving blk_-{IDS[0]} "
    "to /10.251.107.196:",
    # Hadoop / YARN: container and attempt ids
    f"2015-10-18 18:01:47,978 INFO [main] org.apache.hadoop.mapreduce.v2.app.MRAppMaster: container_{IDS[2]}_0020_01_000001",
    # OpenStack: request ids with a long digit run inside a hex id
    f"nova-api.log.1.2017-05-16_13:53:08 2017-05-16 00:00:00.008 25746 INFO nova.osapi_compute.wsgi.server "
    f"[req-38101a0b-2096-447d-96ea-a692162415ae 113d3a99c3da401fbd62cc2caa5b96d2 "
    f"54fadb412c4e40cdbaed9335e4c35a9e - - -] 10.11.10.1 \"GET /v2/54fadb412c4e40cdbaed9335e4c35a9e/servers/detail "
    f"HTTP/1.1\" status: 200 len: 1893 time: 0.2477829 token a{IDS[3]}f",
    # Android: hex hashes and md5 sums holding a long digit run
    f"03-17 16:13:38.811  1702  2395 D WindowManager: printFreezingDisplayLogsopening app "
    f"AppWindow{{9f4ef63 Window{{a{IDS[4]}e ActivityRecord{{de9231d u0 com.tencent.qt.qtl/.activity t761}}}}}}",
    f"03-17 16:14:02.117  2227  2227 I Tinker.DexDiffPatchInternal: dex md5:c{IDS[2]}ab9d1fcbd0 ok",
    # sshd (LogHub OpenSSH): a key fingerprint with a digit run
    f"Dec 10 06:55:46 LabSZ sshd[24200]: Accepted publickey for fztu from 119.137.62.142 port 49116 ssh2: "
    f"RSA SHA256:Xk{IDS[7]}Qz+9c",
    # Apache access: session ids and ULID-like ids glued to letters; an id after `_7-`
    f"10.0.0.7 - - [03/Dec/2026:10:11:27 +0000] \"GET /play?session=s{IDS[3]} HTTP/1.1\" 200 512",
    f"10.0.0.7 - - [03/Dec/2026:10:11:28 +0000] \"GET /rounds/01JEBX{IDS[4]}ZQ HTTP/1.1\" 200 77",
    f"job_{IDS[1]} finished",
    f"{IDS[3]}_retry scheduled",
    f"{IDS[4]}abc",
    f"attempt_7-{IDS[4]} done",
    # not card-like at all: epoch ms and snowflake ids start with 1, decimals, addresses, dates
    "2026-12-03 10:11:27,123 INFO took 2.3456789012345678 s",
    "tweet 1541815603606036480 from 203.0.113.9, 198.51.100.7",
    "window 2026-11-20/2026-11-27 of 2026-12-03",
]

# -- real card numbers: always masked ---------------------------------------------------------------

CARDS = [
    ("card 4111 1111 1111 1111 declined", "4111111111111111"),
    ("paid with 4111-1111-1111-1111", "4111111111111111"),
    ("order-4111-1111-1111-1111 failed", "4111111111111111"),          # grouped: a card even after an id prefix
    ("evt-4744701283090971", "4744701283090971"),                     # an id built from a card (tests/hostile)
    ("order-4111111111111111 shipped", "4111111111111111"),           # a `-` after a letter separates
    ("card 4111111111111111-abc", "4111111111111111"),
    ("x4111 1111 1111 1111", "4111111111111111"),
    ("pan=4111111111111111&exp=1228", "4111111111111111"),
    ('10.0.0.5 - - [03/Dec/2026:10:11:27 +0000] "GET /pay?pan=5500005555555559&cvv=x HTTP/1.1" 200 512',
     "5500005555555559"),
    ('10.0.0.5 - - [03/Dec/2026:10:11:29 +0000] "POST /api/v1/cards/378282246310005/verify HTTP/1.1" 201 9',
     "378282246310005"),
    ("PAN: 6011000990139424", "6011000990139424"),
    ("cc=6011000990139424;", "6011000990139424"),
    ('payload {"pan":"4111111111111111","amount":10}', "4111111111111111"),
    ("Dec 10 07:02:47 LabSZ sshd[24203]: Failed password for invalid user 4111111111111111 from 5.36.59.76 "
     "port 42393 ssh2", "4111111111111111"),
    ("refund -4111111111111111", "4111111111111111"),                  # a minus sign, not glue
    ("balance=-4111111111111111", "4111111111111111"),
    ("card 4111111111111111.", "4111111111111111"),
    ("card 4111111111111111-12/28", "4111111111111111"),               # a dash then digits: an expiry
    ("4111111111111111 2026", "4111111111111111"),
    ("(4111111111111111)", "4111111111111111"),
    ("'4111111111111111'", "4111111111111111"),
    ("cards: [4111111111111111, 5500005555555559]", "5500005555555559"),
    ("\u0664\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661", None),
    ("４１１１ １１１１ １１１１ １１１１", None),
    ("4111_1111_1111_1111", "4111111111111111"),                      # underscores between groups
    ("job_7 failed: card\t4111111111111111\n", "4111111111111111"),
    ("/".join(["", "cards", "4111111111111111", ""]), "4111111111111111"),
]


@pytest.fixture(scope="module")
def redactor():
    return Redactor.from_file()


def _runs(text: str) -> list[str]:
    return re.findall(r"\d{13,}", text)


def test_the_identifiers_would_pass_as_cards():
    """Else the identifier cases prove nothing."""
    assert all(is_pan(i) for i in IDS)
    glued = [line for line in NOT_CARDS if any(is_pan(run) for run in _runs(line))]
    assert len(glued) >= 16


@pytest.mark.parametrize("line", NOT_CARDS)
def test_identifiers_are_left_alone(redactor, line):
    assert redactor.scrub(line) == (line, 0)


@pytest.mark.parametrize("line,pan", CARDS)
def test_card_numbers_are_masked(redactor, line, pan):
    new, count = redactor.scrub(line)
    assert count >= 1
    digits = "".join(str(int(c)) for c in new if c.isdecimal())
    if pan is not None:
        assert pan not in new and pan not in digits
        assert pan[:6] + "*" * (len(pan) - 10) + pan[-4:] in new
    assert "41111111111111" not in digits


def test_the_table_is_large_enough():
    assert len(NOT_CARDS) + len(CARDS) >= 40


# -- the same through the normaliser (both paths) and the other users of the redactor --------------

@pytest.fixture(scope="module")
def normalizer():
    from app.config import Settings
    from app.services import build_normalizer
    return build_normalizer(Settings.from_env({"PLATLOGS_DATA_DIR": "/tmp"}))


NOW = 1_795_000_000_000


def test_identifiers_survive_normalisation_in_text_keys_and_labels(normalizer):
    block = f"blk_-{IDS[0]}"
    raw = {"message": NOT_CARDS[0], "labels": {"block": block}, "blocks": {block: 1}, "ids": [f"job_{IDS[1]}"]}
    for line in (orjson.dumps(raw), None):
        event = normalizer.normalize(orjson.loads(orjson.dumps(raw)), NOW, line)
        assert event["message"] == NOT_CARDS[0] and event["labels"]["block"] == block
        assert block in event["blocks"] and event["ids"] == [f"job_{IDS[1]}"]
        assert "redacted" not in event["event"]


def test_cards_in_numbers_keys_and_text_are_still_masked(normalizer):
    raw = {"message": "paid with 4111-1111-1111-1111", "card": 4111111111111111, "cards": {"4111111111111111": 1},
           "labels": {"pan": "pan=4111111111111111"}}
    for line in (orjson.dumps(raw), None):
        stored = orjson.dumps(normalizer.normalize(orjson.loads(orjson.dumps(raw)), NOW, line))
        assert b"4111111111111111" not in stored and b"4111-1111-1111-1111" not in stored
        assert stored.count(b"411111******1111") == 4


def test_error_reasons_still_do_not_echo_a_card(normalizer):
    from app.events.convert import EventError
    for value in ("4111-1111-1111-1111", "pan 4111111111111111", "4111 1111 1111 1111x"):
        with pytest.raises(EventError) as caught:
            normalizer.normalize({"http": {"response": {"status_code": value}}}, NOW)
        said = f"{caught.value.reason} {caught.value.field}"
        assert "4111111111111111" not in said.replace("-", "").replace(" ", ""), said


def test_meta_scrub_keeps_identifiers_and_masks_cards(redactor):
    """Text the meta database stores (notes, error group titles) goes through the same rule."""
    from app.meta.scrub import JSON, scrub_value
    text = f"note: blk_-{IDS[0]} was lost; card 4111 1111 1111 1111"
    out = scrub_value(redactor, text)
    assert f"blk_-{IDS[0]}" in out and "4111 1111 1111 1111" not in out and "411111******1111" in out
    out = scrub_value(redactor, orjson.dumps({"t": text}).decode(), JSON)
    assert f"blk_-{IDS[0]}" in out and "411111******1111" in out
