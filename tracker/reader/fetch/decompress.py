"""Step-bounded decoding of a response body's Content-Encoding (identity, gzip, deflate).

Split from `tracker.reader.fetch`, which streams raw bytes through a `BodyDecoder` so that a
compression bomb never materialises more than one step of output at a time; the byte cap
is enforced by the caller on what comes out.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

# Decompress in steps this size so a bomb never materialises more than one step at once.
_STEP = 64 * 1024


class BodyDecoder:
    """identity/gzip/deflate decoding that never returns more than `_STEP` bytes per call."""

    def __init__(self, encoding: str) -> None:
        self._obj = None if encoding == "identity" else zlib.decompressobj(
            zlib.MAX_WBITS | 16 if encoding == "gzip" else zlib.MAX_WBITS)
        self._sniff = encoding == "deflate"
        self._head = b""
        self._fed = False

    def decode(self, data: bytes) -> Iterator[bytes]:
        """Feed raw body bytes; yield decoded pieces of at most one step each."""
        if self._obj is None:
            yield data
            return
        self._fed = self._fed or bool(data)
        if self._sniff:
            # "deflate" should be zlib-wrapped but many servers send raw deflate; tell them
            # apart by the zlib header checksum, as browsers do. That needs two bytes.
            self._head += data
            if len(self._head) < 2:
                return
            data, self._head, self._sniff = self._head, b"", False
            if not (data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0):
                self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
        # Bytes after the end of the compressed stream are ignored, as httpx does.
        while data and not self._obj.eof:
            out = self._obj.decompress(data, _STEP)
            data = self._obj.unconsumed_tail
            yield out
            # A full step can leave output buffered inside zlib with no input left.
            while len(out) == _STEP and not data and not self._obj.eof:
                out = self._obj.decompress(b"", _STEP)
                yield out

    def check_complete(self) -> None:
        """Raise zlib.error if the body ended before the compressed stream did."""
        # An empty body (HEAD-like 200s, some CDNs) is not a truncated stream.
        if self._obj is not None and self._fed and not self._obj.eof:
            raise zlib.error("compressed body ended before the end of its stream")


def decoder_for(content_encoding: str | None) -> BodyDecoder | None:
    """A step-bounded decoder for this Content-Encoding, or None to let httpx decode it."""
    codings = [c.strip().lower() for c in (content_encoding or "").split(",")]
    codings = [c for c in codings if c and c != "identity"] or ["identity"]
    if len(codings) == 1 and codings[0] in ("identity", "gzip", "x-gzip", "deflate"):
        return BodyDecoder(codings[0].removeprefix("x-"))
    return None
