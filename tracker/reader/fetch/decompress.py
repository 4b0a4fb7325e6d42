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
# Stacked codings ("gzip, gzip") multiply a bomb's ratio: each layer is stepped too, and
# more layers than any real server sends are refused rather than decoded.
MAX_CODINGS = 4


class _Layer:
    """One gzip or deflate layer that never returns more than `_STEP` bytes per call."""

    def __init__(self, encoding: str) -> None:
        self._obj = zlib.decompressobj(
            zlib.MAX_WBITS | 16 if encoding == "gzip" else zlib.MAX_WBITS)
        self._sniff = encoding == "deflate"
        self._head = b""
        self.fed = False

    @property
    def eof(self) -> bool:
        return self._obj.eof

    def decode(self, data: bytes) -> Iterator[bytes]:
        self.fed = self.fed or bool(data)
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


class BodyDecoder:
    """identity/gzip/deflate decoding, stacked or not, never more than `_STEP` bytes per piece."""

    def __init__(self, codings: list[str]) -> None:
        """`codings` in the order the server applied them (as Content-Encoding lists them)."""
        # Decoding undoes the last coding applied first.
        self._layers = [_Layer(c) for c in reversed(codings) if c != "identity"]

    def decode(self, data: bytes) -> Iterator[bytes]:
        """Feed raw body bytes; yield decoded pieces of at most one step each."""
        yield from self._through(data, 0)

    def _through(self, data: bytes, depth: int) -> Iterator[bytes]:
        if depth == len(self._layers):
            yield data
            return
        # Each piece goes down the stack as it comes out: no layer holds more than a step.
        for piece in self._layers[depth].decode(data):
            yield from self._through(piece, depth + 1)

    def check_complete(self) -> None:
        """Raise zlib.error if the body ended before a compressed stream did."""
        # An empty body (HEAD-like 200s, some CDNs) is not a truncated stream.
        if any(layer.fed and not layer.eof for layer in self._layers):
            raise zlib.error("compressed body ended before the end of its stream")


def decoder_for(content_encoding: str | None) -> BodyDecoder | None:
    """A step-bounded decoder for this Content-Encoding, or None to let httpx decode it.

    Raises zlib.error for more than MAX_CODINGS stacked gzip/deflate codings."""
    codings = [c.strip().lower() for c in (content_encoding or "").split(",")]
    codings = [c.removeprefix("x-") for c in codings if c and c != "identity"]
    if not all(c in ("gzip", "deflate") for c in codings):
        return None
    if len(codings) > MAX_CODINGS:
        raise zlib.error(f"{len(codings)} stacked content codings (at most {MAX_CODINGS})")
    return BodyDecoder(codings)
