"""Reading captures from web archives (WARC) and plain feed files. warcio lives here.

A WARC `response` record whose body is a feed is a capture of that feed at its
WARC-Date; a `revisit` record is a capture that found the feed unchanged. Anything else
is reported as a `Skipped` record so the caller can count and warn without stopping.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from pathlib import Path
from urllib.parse import urljoin

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed
from warcio.statusandheaders import StatusAndHeaders
from warcio.utils import BUFF_SIZE
from warcio.warcwriter import WARCWriter

from tracker.errors import InputError
from tracker.model import Capture, PageCapture, PageRedirect, utcnow
from tracker.reader.jsonfeed import looks_like_json_feed
from tracker.reader.pages import MAX_PAGE_BYTES, is_html
from tracker.redact import authority_problem, mask_url
from tracker.timefmt import read_iso

_FEED_TYPES = ("rss", "atom", "rdf", "xml")
# The largest record body read as a capture (bytes): a larger one is skipped, and reported.
WARC_BODY_MAX = 64 * 2**20
_FEED_STARTS = (b"<?xml", b"<rss", b"<feed", b"<rdf:rdf", b"<rdf")


@dataclass(frozen=True)
class Skipped:
    """A record that is not a usable feed capture, why, and the kind of reason (for counts)."""

    where: str
    reason: str
    kind: str = "other"


# Web feeds did not exist before this: an earlier time is a broken clock or a forgery.
EARLIEST = datetime(1991, 1, 1)


def parse_time(value: str) -> datetime:
    """An ISO-8601 timestamp as naive UTC (a missing zone means UTC)."""
    when = read_iso(value)
    if when is None:
        raise InputError(f"not an ISO-8601 date and time: {value!r}")
    # A capture can be neither older than feeds nor from the future (a wrong clock, a
    # hostile archive): such a date would order everything else wrongly.
    if when < EARLIEST or when > utcnow() + timedelta(days=1):
        raise InputError(f"capture time out of range (before {EARLIEST:%Y} or in the future): {value!r}")
    return when


def looks_like_feed(body: bytes, content_type: str | None) -> bool:
    """Whether bytes are plausibly a feed: by media type, else by their first tag (or,
    for JSON, by the JSON Feed version they name)."""
    if content_type and any(t in content_type.lower() for t in _FEED_TYPES):
        return True
    if looks_like_json_feed(body, content_type):
        return True
    head = body[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"<?xml"):
        return b"<html" not in head
    return head.startswith(_FEED_STARTS)


def is_warc(path: Path) -> bool:
    """WARC files are recognised by name: .warc, .warc.gz, .arc, .arc.gz."""
    name = path.name.lower()
    return name.endswith((".warc", ".warc.gz", ".arc", ".arc.gz"))


Record = Capture | PageCapture | PageRedirect | Skipped


def _damage(error: Exception) -> str:
    """What the user is told of an archive warcio cannot read on: not the bytes it found
    instead of a record, which warcio quotes (binary noise, for a file that is no archive)."""
    if isinstance(error, ArchiveLoadFailed) and "Unknown archive format" in str(error):
        return "no WARC or ARC record where one should start (not an archive, or corrupt)"
    return str(error)


class _Walk(ArchiveIterator):
    """warcio's walk through an archive without its printing: bytes after a record where
    the next should start are told as that record's one-line skip (`err_count` counts them),
    not as warcio's several lines written straight to stderr."""

    INC_RECORD = ""


def read_warc(path: Path) -> Iterator[Record]:
    """Every record of a WARC (or ARC) file as a feed capture, an HTML page, a redirect, or as a
    Skipped with the reason."""
    try:
        stream = path.open("rb")
    except OSError as error:
        raise InputError(f"{path}: cannot read ({error.strerror})") from None
    with stream:
        # HTTP headers are parsed record by record (`_checked`): warcio parsing them itself
        # fails inside its iterator on a malformed record, and that ends the walk for all after it.
        # ARC (the Internet Archive's format before WARC) is read as the WARC it converts to.
        records = _Walk(stream, no_record_parse=True, arc2warc=True)
        end = 0
        try:
            for record in records:
                result = _checked(path, records, record)
                if isinstance(result, Skipped) and result.kind == "damaged":
                    yield result
                    return
                end = records.get_record_offset() + records.get_record_length()
                yield result
        except (ArchiveLoadFailed, OSError, EOFError, ValueError, AttributeError) as error:
            # Damage stops the walk through a compressed archive; what came before stands.
            yield Skipped(str(path), f"archive damaged after this point: {_damage(error)}", "damaged")
            return
        size = path.stat().st_size
        stream.seek(end)
        if size - end > 64 or stream.read(64).strip(b"\r\n\t "):
            # A gzip member cut before it yields a byte ends warcio's walk without a word:
            # the record is lost all the same, and the user must hear of it.
            yield Skipped(str(path), f"archive damaged after this point: {size - end} bytes at its end are not a whole record", "damaged")


def _declared_length(record) -> int | None:  # type: ignore[no-untyped-def]
    """The record's length as its header declares it; None when missing, not a number, or negative."""
    value = record.rec_headers.get_header("Content-Length" if record.format == "warc" else "length")
    try:
        return length if (length := int(value)) >= 0 else None
    except (TypeError, ValueError):
        return None


def _checked(path: Path, records: _Walk, record) -> Record:  # type: ignore[no-untyped-def]
    """One record read to its end: a capture, a page, a redirect, or why it is skipped.

    A malformed record whose end is known is skipped alone. Its end is known from its
    Content-Length, or in a .warc.gz from its gzip member; an uncompressed record without
    a usable Content-Length leaves nowhere to find the next one, and is damage.
    """
    where = f"{path.name} {record.rec_headers.get_header('WARC-Record-ID') or '?'}"
    kind = record.rec_type or "untyped"
    if _declared_length(record) is None:
        if records.reader.decompressor is None:
            return Skipped(str(path), "archive damaged after this point: a record without a valid Content-Length "
                                      "(where the next record starts is unknown)", "damaged")
        if _member_holds_more(records) or not records.reader.decompressor.eof:
            return Skipped(str(path), "archive damaged after this point: a record without a valid Content-Length, "
                                      "in a gzip member cut short or holding more records", "damaged")
        return Skipped(where, f"{kind} record without a valid Content-Length: not read", "broken")
    errors = records.err_count
    uri = record.rec_headers.get_header("WARC-Target-URI" if record.format == "warc" else "uri")
    try:
        # Without a target warcio's parser fails; `_from_record` says why such a record is skipped.
        if uri and kind in ("response", "revisit"):
            record.http_headers = records.loader.load_http_headers(kind, uri, record.raw_stream, record.length)
    except EOFError:
        result: Record = Skipped(where, f"{kind} record cut short in its HTTP headers", "broken")
    except Exception:  # noqa: BLE001 -- warcio's parsers raise assorted exceptions on malformed headers, all confined to the record
        result = Skipped(where, f"{kind} record with unreadable HTTP headers", "broken")
    else:
        result = _from_record(path, record)
    records.read_to_end()
    if records.err_count > errors:
        # Bytes where the next record should start: warcio reads on from the line after them.
        return Skipped(where, f"{kind} record longer than its Content-Length says: not read", "broken")
    return result


def _member_holds_more(records: _Walk) -> bool:
    """Read the current gzip member to its end; whether another record starts in it (a file
    gzipped whole, not a member per record: past a record of unknown length, nothing is found)."""
    more, tail = False, b""
    while chunk := records.reader.read(BUFF_SIZE):
        more = more or b"\nWARC/" in tail + chunk
        tail = chunk[-8:]
    return more


def _page_type(content_type: str | None) -> bool:
    return bool(content_type) and is_html(content_type, b"")


def _from_record(path: Path, record) -> Record:  # type: ignore[no-untyped-def]
    headers = record.rec_headers
    kind = record.rec_type
    # Known by its masked URL, like a configured feed: an archive's passwords go no further.
    uri = mask_url(headers.get_header("WARC-Target-URI") or "")
    record_id = headers.get_header("WARC-Record-ID") or "?"
    where = f"{path.name} {record_id}"
    if kind not in ("response", "revisit"):
        return Skipped(where, f"{kind} record", "not a capture")
    if not uri and record.format == "warc":
        # A capture of nothing: the WARC standard requires the header of these records.
        return Skipped(where, f"{kind} record without a WARC-Target-URI: not read", "broken")
    if not uri or not uri.startswith(("http://", "https://")):
        return Skipped(where, f"{kind} record without an http(s) target", "not a capture")
    if problem := authority_problem(uri):  # no client asked for it, and any password in it escapes the masking
        return Skipped(where, f"{kind} record whose target URI is unreadable: {problem}", "broken")
    date = headers.get_header("WARC-Date")
    try:
        captured_at = parse_time(date or "")
    except InputError:
        return Skipped(where, f"bad WARC-Date {date!r}", "broken")
    status = None
    content_type = None
    if record.http_headers is not None:
        status_line = record.http_headers.get_statuscode()
        status = int(status_line) if status_line and status_line.isdigit() else None
        content_type = record.http_headers.get_header("Content-Type")
    digest = headers.get_header("WARC-Payload-Digest")
    source = f"warc:{path.name}#{record_id}"
    if kind == "revisit" and _page_type(content_type):
        return Skipped(where, f"revisit of a page at {uri}", "page revisit")
    if kind == "revisit":
        return Capture(uri, captured_at, "revisit", None, source, content_type, status, digest)
    if status is not None and 300 <= status < 400 and record.http_headers.get_header("Location"):
        try:
            location = urljoin(uri, record.http_headers.get_header("Location").strip())
        except ValueError:
            location = ""
        if location.startswith(("http://", "https://")):
            return PageRedirect(uri, location, captured_at, source)
    if status is not None and not 200 <= status < 300:
        return Skipped(where, f"HTTP {status} response for {uri}", "HTTP error")
    return _response(record, where, uri, captured_at, status, content_type, digest, source)


def _response(record, where: str, uri: str, captured_at: datetime, status: int | None,  # type: ignore[no-untyped-def]
              content_type: str | None, digest: str | None, source: str) -> Record:
    """A 2xx response record's body, read no further than it may be: a page or a feed capture."""
    if _page_type(content_type):
        # An article page: read no further than a page may be (a larger one is refused as such).
        try:
            body = record.content_stream().read(MAX_PAGE_BYTES + 1)
        except Exception as error:
            return Skipped(where, f"unreadable body: {error}", "broken")
        headers = tuple((str(k), str(v)) for k, v in record.http_headers.headers)
        return PageCapture(uri, uri, captured_at, status, headers, body, source)
    try:
        body = record.content_stream().read(WARC_BODY_MAX + 1)
    except Exception as error:  # warcio surfaces decoding failures as assorted exceptions
        return Skipped(where, f"unreadable body: {error}", "broken")
    if len(body) > WARC_BODY_MAX:
        # Not held at all: no feed is this large, and parsing it would cost several times its size.
        return Skipped(where, f"body over {WARC_BODY_MAX // 2**20} MiB at {uri}: not read", "too large")
    if getattr(record.raw_stream, "limit", 0) > 0:
        # Fewer bytes than Content-Length promised: a crawler stopped mid-write.
        return Skipped(where, f"truncated record for {uri}", "broken")
    if not looks_like_feed(body, content_type):
        if is_html(content_type, body):
            headers = tuple((str(k), str(v)) for k, v in record.http_headers.headers) if record.http_headers else ()
            return PageCapture(uri, uri, captured_at, status, headers, body[: MAX_PAGE_BYTES + 1], source)
        return Skipped(where, f"not a feed ({content_type or 'unknown type'}) at {uri}", "not a feed")
    return Capture(uri, captured_at, "response", body, source, content_type, status, digest)


def read_feed_file(path: Path, url: str, captured_at: datetime | None) -> Capture | Skipped:
    """A plain feed file as one capture of `url` (the file's mtime stands in for a missing
    time); a Skipped when it is over `WARC_BODY_MAX`, as a WARC record would be."""
    try:
        with path.open("rb") as stream:
            # Never more than the cap, whatever the file: /dev/zero or a FIFO has no size to check first.
            body = stream.read(WARC_BODY_MAX + 1)
        when = captured_at or datetime.fromtimestamp(path.stat().st_mtime, UTC).replace(tzinfo=None)
    except OSError as error:
        raise InputError(f"{path}: cannot read ({error.strerror})") from None
    if len(body) > WARC_BODY_MAX:
        return Skipped(str(path), f"feed file over {WARC_BODY_MAX // 2**20} MiB: not read", "too large")
    return Capture(mask_url(url), when, "file", body, f"file:{path}")


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class WarcArchive:
    """Rolling WARC files of every capture: the evidence of what a feed showed, and when.

    Written in the format `ingest` reads: a `response` record per fetched body (with its
    HTTP headers), a `revisit` record when the server answered 304 Not Modified. A new
    file starts when the current one passes `max_bytes`. Safe to call from many threads.
    """

    def __init__(self, directory: Path, max_bytes: int = 100 * 1024 * 1024) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._file: io.BufferedWriter | None = None
        self._writer: WARCWriter | None = None
        self._sequence = 0
        directory.mkdir(parents=True, exist_ok=True)

    def _rotate(self) -> WARCWriter:
        if self._file is not None and self._file.tell() < self.max_bytes and self._writer is not None:
            return self._writer
        self.close()
        self._sequence += 1
        stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        # The pid: workers of one daemon share the folder and start in the same second; two
        # processes appending to one file would interleave (and a killed one leave a torn record) in it.
        path = self.directory / f"tracker-{stamp}-{os.getpid()}-{self._sequence:05d}.warc.gz"
        self._file = path.open("ab")
        self._writer = WARCWriter(self._file, gzip=True)
        return self._writer

    def write(
        self, url: str, when: datetime, status: int, headers: tuple[tuple[str, str], ...], body: bytes | None
    ) -> None:
        """Append one capture: a response with `body` (b"" for a redirect), or a revisit when `body` is None (304)."""
        url = mask_url(url)  # a WARC-Target-URI never carries a password
        date = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        http = StatusAndHeaders(f"{status} {_reason(status)}", list(headers), protocol="HTTP/1.1")
        with self._lock:
            writer = self._rotate()
            if body is None:
                record = writer.create_warc_record(
                    url, "revisit", http_headers=http,
                    warc_headers_dict={"WARC-Date": date, "WARC-Profile": "http://netpreserve.org/warc/1.1/revisit/server-not-modified"},
                )
            else:
                # The body is stored decoded: drop headers that describe the wire encoding.
                http.remove_header("Content-Encoding")
                http.remove_header("Transfer-Encoding")
                http.replace_header("Content-Length", str(len(body)))
                record = writer.create_warc_record(
                    url, "response", payload=io.BytesIO(body), http_headers=http, warc_headers_dict={"WARC-Date": date}
                )
            writer.write_record(record)
            if self._file is not None:
                self._file.flush()

    def close(self) -> None:
        """Close the current file."""
        if self._file is not None:
            self._file.close()
        self._file, self._writer = None, None


@dataclass(frozen=True)
class Served:
    """What a server answered for a feed at a moment: the input of `write_warc_file`."""

    url: str
    when: datetime
    headers: tuple[tuple[str, str], ...]
    body: bytes


def write_warc_file(path: Path, served: Iterable[Served]) -> tuple[int, int]:
    """Write captures as a crawler would (a `response` per new body, a `revisit` when a
    feed served the very bytes it served last time); return (responses, revisits).

    The file is reproducible: record ids derive from the records themselves and gzip
    members carry no time, so the same captures always make the same bytes.
    """
    last: dict[str, tuple[str, str]] = {}
    responses = revisits = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as stream:
        writer = WARCWriter(stream, gzip=path.name.endswith(".gz"))
        for capture in served:
            date = capture.when.strftime("%Y-%m-%dT%H:%M:%SZ")
            digest = "sha1:" + base64.b32encode(hashlib.sha1(capture.body).digest()).decode()
            record_id = f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{capture.url} {date} {digest}')}>"
            http = StatusAndHeaders("200 OK", [*capture.headers, ("Content-Length", str(len(capture.body)))], protocol="HTTP/1.1")
            warc_headers = {"WARC-Date": date, "WARC-Record-ID": record_id}
            previous = last.get(capture.url)
            if previous is not None and previous[0] == digest:
                record = writer.create_revisit_record(capture.url, digest, capture.url, previous[1], http_headers=http,
                                                      warc_headers_dict=warc_headers)
                revisits += 1
            else:
                record = writer.create_warc_record(capture.url, "response", payload=io.BytesIO(capture.body),
                                                   http_headers=http, warc_headers_dict=warc_headers)
                last[capture.url] = (digest, date)
                responses += 1
            writer.write_record(record)
    return responses, revisits
