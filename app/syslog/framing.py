"""Syslog over a byte stream (TCP, TLS): RFC 6587's two framings, told apart per message.

- octet counting (RFC 5425 / 6587 3.4.1): `MSG-LEN SP MSG`, MSG-LEN decimal digits; a frame
  starting with a digit is read this way (as rsyslog does);
- non-transparent framing (6587 3.4.2): MSG then LF (a CR before it is dropped); anything else.

Memory is bounded: a frame longer than `max_frame` bytes is cut — its first `max_frame` bytes
are kept as a message marked truncated, the rest is read and thrown away — so one sender's
runaway frame costs a counter, not the connection or its neighbours.
"""

from __future__ import annotations

MAX_LEN_DIGITS = 10  # MSG-LEN up to 9,999,999,999: a longer digit run is not a length


class Deframer:
    """Feed it the bytes of one connection as they come; it hands back whole frames as
    (bytes, truncated) pairs."""

    def __init__(self, max_frame: int):
        self.max_frame = max_frame
        self.buf = bytearray()
        self.skip = 0  # bytes of a cut octet-counted frame still to throw away
        self.skip_line = False  # throwing away the rest of a cut newline frame
        self.truncated = 0  # frames cut

    def feed(self, data: bytes) -> list[tuple[bytes, bool]]:
        out: list[tuple[bytes, bool]] = []
        buf = self.buf
        buf += data
        pos = 0
        end = len(buf)
        max_frame = self.max_frame
        while pos < end:
            if self.skip:
                n = min(self.skip, end - pos)
                self.skip -= n
                pos += n
                continue
            if self.skip_line:
                nl = buf.find(b"\n", pos)
                if nl < 0:
                    pos = end
                    break
                self.skip_line = False
                pos = nl + 1
                continue
            c = buf[pos]
            if 48 <= c <= 57:  # a digit: octet counting
                sp = buf.find(b" ", pos, min(end, pos + MAX_LEN_DIGITS + 1))
                if sp < 0:
                    if end - pos <= MAX_LEN_DIGITS:
                        break  # the length is not all here yet
                else:
                    digits = bytes(buf[pos:sp])
                    if digits.isdigit():
                        length = int(digits)
                        start = sp + 1
                        if length <= max_frame:
                            if end - start < length:
                                break  # wait for the rest
                            out.append((bytes(buf[start : start + length]), False))
                            pos = start + length
                            continue
                        if end - start < max_frame:  # keep the first max_frame bytes
                            break
                        out.append((bytes(buf[start : start + max_frame]), True))
                        self.truncated += 1
                        self.skip = length - max_frame
                        pos = start + max_frame
                        continue
                # not a length after all: a line that starts with digits
            if c in (10, 0):  # empty line, or NUL between frames
                pos += 1
                continue
            nl = buf.find(b"\n", pos, pos + max_frame + 1)
            if nl >= 0:
                line = buf[pos : nl - 1] if nl > pos and buf[nl - 1] == 13 else buf[pos:nl]
                if line:
                    out.append((bytes(line), False))
                pos = nl + 1
                continue
            if end - pos > max_frame:  # no LF within the limit: cut it
                out.append((bytes(buf[pos : pos + max_frame]), True))
                self.truncated += 1
                self.skip_line = True
                pos += max_frame
                continue
            break
        del buf[:pos]
        return out

    def pending(self) -> bytes:
        """What is left at the end of the stream (a last line without LF), or b""."""
        rest = bytes(self.buf).rstrip(b"\r\n\x00") if not (self.skip or self.skip_line) else b""
        self.buf.clear()
        return rest
