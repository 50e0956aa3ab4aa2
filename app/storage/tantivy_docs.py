"""Stored documents, compressed one by one with a zstd dictionary trained on the store's own
events: about 110 bytes for a 650-byte demo event, where tantivy's block compression (LZ4) of
the plain JSON keeps about 165.

A stored document is one header byte and a body: 0 and the JSON as it is (before a dictionary
exists), or a dictionary's number (1-255) and the JSON compressed with it. Dictionaries live in
`<store>/dictionaries/<n>.zdict`, written once (atomically, synced) before any document uses
them, and never changed or removed: a document stays readable for as long as the store keeps it.
The first is trained from the first TRAIN_AFTER events a process writes; python-zstandard
(the reference library's binding) does the training and the compression.
"""

from __future__ import annotations

import base64
import fcntl
import os
import threading
from pathlib import Path

import orjson
import zstandard

from .base import CursorError

TRAIN_AFTER = 2_000  # events seen before the first dictionary is trained
DICTIONARY_BYTES = 64 * 1024
LEVEL = 3


# search cursors of the embedded store: a seq and the order it was issued for
def encode_cursor(seq: int, newest_first: bool) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([seq, "d" if newest_first else "a"])).decode().rstrip("=")


def decode_cursor(cursor: str, newest_first: bool) -> int:
    try:
        seq, order = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not (isinstance(seq, int) and 0 <= seq < 1 << 64 and order in ("a", "d")):
            raise ValueError
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise CursorError("cursor: not a cursor this server issued") from None
    if order != ("d" if newest_first else "a"):
        raise CursorError("cursor: issued for the other sort order")
    return seq


class DocumentCodec:
    def __init__(self, directory: Path):
        self.directory = directory / "dictionaries"
        self.directory.mkdir(exist_ok=True)
        self._lock = threading.Lock()
        self._decompressors: dict[int, zstandard.ZstdDecompressor] = {}
        self._compressor: tuple[int, zstandard.ZstdCompressor] | None = None
        self._samples: list[bytes] = []
        self._load_newest()

    def _load_newest(self) -> None:
        numbers = sorted(int(p.stem) for p in self.directory.glob("*.zdict") if p.stem.isdigit())
        if numbers:
            number = numbers[-1]
            data = zstandard.ZstdCompressionDict((self.directory / f"{number}.zdict").read_bytes())
            self._compressor = (
                number,
                zstandard.ZstdCompressor(
                    dict_data=data, level=LEVEL, write_checksum=False, write_content_size=True, write_dict_id=False
                ),
            )

    def encode(self, event: dict) -> bytes:
        return self.encode_json(orjson.dumps(event))

    def encode_json(self, raw: bytes) -> bytes:
        """The stored form of an event from its orjson bytes (the native document path has them)."""
        found = self._compressor
        if found is None:
            self._learn(raw)
            return b"\x00" + raw
        number, compressor = found
        return bytes((number,)) + compressor.compress(raw)

    def decode(self, stored: bytes) -> dict:
        number = stored[0]
        if number == 0:
            return orjson.loads(stored[1:])
        decompressor = self._decompressors.get(number)
        if decompressor is None:
            path = self.directory / f"{number}.zdict"
            decompressor = zstandard.ZstdDecompressor(dict_data=zstandard.ZstdCompressionDict(path.read_bytes()))
            self._decompressors[number] = decompressor
        return orjson.loads(decompressor.decompress(memoryview(stored)[1:]))

    def _learn(self, raw: bytes) -> None:
        with self._lock:
            if self._compressor is not None:
                return
            self._samples.append(raw)
            if len(self._samples) < TRAIN_AFTER:
                return
            samples, self._samples = self._samples, []
            with open(self.directory / "train.lock", "a+b") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # one process trains; the others take its dictionary
                self._load_newest()
                if self._compressor is not None:
                    return
                try:
                    # (list is invariant: the stub asks for list[bytes | bytearray | memoryview])
                    data = zstandard.train_dictionary(DICTIONARY_BYTES, samples)  # type: ignore[arg-type]
                except zstandard.ZstdError:  # too little variety to train on: try later
                    return
                tmp = self.directory / "1.zdict.tmp"
                with open(tmp, "wb") as out:
                    out.write(data.as_bytes())
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, self.directory / "1.zdict")
                dir_fd = os.open(self.directory, os.O_RDONLY)
                try:
                    os.fsync(dir_fd)
                finally:
                    os.close(dir_fd)
                self._load_newest()
