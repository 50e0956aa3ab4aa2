"""Streaming readers for request bodies: NDJSON line by line with bounded memory, optional gzip."""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from typing import Protocol

import orjson

from ..events import refusals
from ..events.normalize import EventError

CHUNK = 1 << 20
GZIP_STEP = 16 << 10
RATIO_FLOOR = 8 << 20  # the expansion ratio is checked once this much has been decompressed
_BLANK = re.compile(rb"[ \t\r\n]*")


class Oversized(EventError):
    """An item (event, line) over the size limit: 413 when every refused item is one."""

    kind = refusals.TOO_LARGE


class BodyLimit(ValueError):
    """The body went past a limit of the request as a whole (413)."""


class Readable(Protocol):
    """What decoded_chunks reads: a request's stream, a file, or anything with read(n)."""

    def read(self, n: int, /) -> bytes: ...


def decoded_chunks(
    stream: Readable, gzip: bool = False, chunk: int = CHUNK, *, max_inflated: int = 1 << 30, max_ratio: int = 200
) -> Iterator[bytes]:
    """The body in chunks; gunzipped on the fly when the client sent Content-Encoding: gzip.
    A gzip body is bounded: at most `max_inflated` bytes decompressed, and (past the first
    RATIO_FLOOR bytes) at most `max_ratio` times the compressed bytes read."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzip else None
    read = inflated = 0
    while True:
        data = stream.read(chunk)
        if not data:
            break
        if inflater is None:
            yield data
            continue
        read += len(data)
        # Small input steps keep what decoded before a corrupt spot; bounded output per step
        # keeps a compressed bomb from expanding in memory at once.
        for offset in range(0, len(data), GZIP_STEP):
            pending = data[offset : offset + GZIP_STEP]
            while pending:
                try:
                    out = inflater.decompress(pending, chunk)
                except zlib.error as exc:
                    raise ValueError(f"body is not valid gzip: {exc}") from None
                if out:
                    inflated += len(out)
                    if inflated > max_inflated:  # what came before the limit is still read
                        yield out[: len(out) - (inflated - max_inflated)]
                    _check_inflated(inflated, read, max_inflated, max_ratio)
                    yield out
                pending = inflater.unconsumed_tail
    if inflater is not None:
        tail = inflater.flush()
        if tail:
            yield tail
        if not inflater.eof:
            raise ValueError("body is not valid gzip: it ends before the compressed stream does (truncated?)")


def _check_inflated(inflated: int, read: int, max_inflated: int, max_ratio: int) -> None:
    if inflated > max_inflated:
        raise BodyLimit(
            f"gzip body decompresses to over {max_inflated} bytes (PLATLOGS_MAX_INFLATED_BYTES); send it in parts"
        )
    if inflated > RATIO_FLOOR and inflated > read * max_ratio:
        raise BodyLimit(
            f"gzip body decompresses to over {max_ratio} times its size (PLATLOGS_MAX_GZIP_RATIO): "
            f"{inflated} bytes from {read}"
        )


def parse_json(data: bytes) -> object:
    """orjson.loads with the errors people can act on: position of bad UTF-8 or bad syntax."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as uexc:
            raise EventError(f"invalid UTF-8 at byte {uexc.start}", kind=refusals.BAD_JSON) from None
        if "recursion" in str(exc):
            raise EventError("nested too deep to parse", kind=refusals.BAD_JSON) from None
        raise EventError(f"malformed JSON: {exc}", kind=refusals.BAD_JSON) from None


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
            while True:
                if not buffer and skipped < 0:  # a run of blank lines is skipped in C
                    end = _BLANK.match(chunk, start).end()  # type: ignore[union-attr]  # matches "": never None
                    if end > start and (last_nl := chunk.rfind(b"\n", start, end)) >= 0:
                        line_no += chunk.count(b"\n", start, last_nl + 1)
                        start = last_nl + 1
                if (nl := chunk.find(b"\n", start)) < 0:
                    break
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
    except BodyLimit as exc:
        yield line_no + 1, BodyLimitError(str(exc))
        return
    except ValueError as exc:  # decoded_chunks: not gzip, or cut short
        yield line_no + 1, BrokenBody(str(exc))
        return
    if skipped >= 0:
        yield line_no + 1, _oversized(skipped, max_line)
    elif buffer.strip():
        yield line_no + 1, buffer


class BodyLimitError(EventError):
    """Reported as the last item when a body limit cut the body short."""

    kind = refusals.TOO_LARGE


class BrokenBody(EventError):
    """Reported as the last item when the body could not be read on (bad gzip): nothing after it
    can be told apart."""

    kind = refusals.BAD_REQUEST


def oversized(size: int, limit: int) -> Oversized:
    return Oversized(f"event is {size} bytes, over the limit of {limit}")


_oversized = oversized
