"""Streaming readers for request bodies: NDJSON line by line with bounded memory, optional gzip."""
from __future__ import annotations

import zlib
from typing import IO, Iterator

import orjson

from ..events.normalize import EventError

CHUNK = 1 << 20
GZIP_STEP = 16 << 10


class Oversized(EventError):
    pass


def decoded_chunks(stream: IO[bytes], gzip: bool = False, chunk: int = CHUNK) -> Iterator[bytes]:
    """The body in chunks; gunzipped on the fly when the client sent Content-Encoding: gzip."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzip else None
    while True:
        data = stream.read(chunk)
        if not data:
            break
        if inflater is None:
            yield data
            continue
        # Small input steps keep what decoded before a corrupt spot; bounded output per step
        # keeps a compressed bomb from expanding in memory at once.
        for offset in range(0, len(data), GZIP_STEP):
            pending = data[offset:offset + GZIP_STEP]
            while pending:
                try:
                    out = inflater.decompress(pending, chunk)
                except zlib.error as exc:
                    raise ValueError(f"body is not valid gzip: {exc}") from None
                if out:
                    yield out
                pending = inflater.unconsumed_tail
    if inflater is not None:
        tail = inflater.flush()
        if tail:
            yield tail
        if not inflater.eof:
            raise ValueError("body is not valid gzip: it ends before the compressed stream does (truncated?)")


def parse_json(data: bytes) -> object:
    """orjson.loads with the errors people can act on: position of bad UTF-8 or bad syntax."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as uexc:
            raise EventError(f"invalid UTF-8 at byte {uexc.start}") from None
        raise EventError(f"malformed JSON: {exc}") from None


def iter_lines(chunks: Iterator[bytes], max_line: int) -> Iterator[tuple[int, bytes | EventError]]:
    """(line number, line bytes) for each non-blank line. An over-long line yields an error and is
    discarded up to its newline without being held in memory; a body that breaks off (bad gzip)
    yields an error after everything read before it."""
    line_no = 0
    buffer = b""
    skipped = -1  # >= 0 while discarding an oversized line: bytes discarded so far
    try:
        for chunk in chunks:
            start = 0
            while (nl := chunk.find(b"\n", start)) >= 0:
                piece, start = chunk[start:nl], nl + 1
                line_no += 1
                if skipped >= 0:
                    yield line_no, _oversized(skipped + len(piece), max_line)
                    skipped = -1
                    continue
                line, buffer = (buffer + piece if buffer else piece), b""
                if len(line) > max_line:
                    yield line_no, _oversized(len(line), max_line)
                elif line.strip():
                    yield line_no, line
            rest = chunk[start:]
            if skipped >= 0:
                skipped += len(rest)
            elif len(buffer) + len(rest) > max_line:
                skipped, buffer = len(buffer) + len(rest), b""
            else:
                buffer += rest
    except ValueError as exc:
        yield line_no + 1, EventError(str(exc))
        return
    if skipped >= 0:
        yield line_no + 1, _oversized(skipped, max_line)
    elif buffer.strip():
        yield line_no + 1, buffer


def _oversized(size: int, limit: int) -> Oversized:
    return Oversized(f"event is {size} bytes, over the limit of {limit}")
