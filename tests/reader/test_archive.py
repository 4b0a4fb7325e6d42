"""Reading captures from WARC files and plain feed files."""

from __future__ import annotations

import gzip
import io
import os
import random
import subprocess
import sys
import threading
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

import tracker.reader.archive
from tracker.reader.archive import (
    Skipped,
    is_warc,
    looks_like_feed,
    parse_time,
    read_feed_file,
    read_warc,
)
from tracker.errors import InputError
from tracker.model import Capture
from tracker.reader.parse import parse_feed

FEEDS = Path(__file__).parents[1] / "fixtures" / "feeds"
RU_FEED = (FEEDS / "ru_rss_windows1251.xml").read_bytes()
DE_FEED = (FEEDS / "de_rss_iso8859-1.xml").read_bytes()
HTML_PAGE = (FEEDS / "not_a_feed.html").read_bytes()
FEED_URL = "https://novosti-sibiri.example.ru/rss"


def response(
    writer: WARCWriter,
    uri: str,
    date: str,
    body: bytes,
    content_type: str,
    status: str = "200 OK",
    extra_headers: tuple[tuple[str, str], ...] = (),
) -> None:
    headers = StatusAndHeaders(
        status,
        [("Content-Type", content_type), ("Content-Length", str(len(body))), *extra_headers],
        protocol="HTTP/1.1",
    )
    record = writer.create_warc_record(
        uri, "response", payload=io.BytesIO(body), http_headers=headers, warc_headers_dict={"WARC-Date": date}
    )
    writer.write_record(record)


def record_bytes(uri: str, body: bytes, *, gzip_it: bool, date: str = "2025-01-06T17:00:00Z") -> bytes:
    """One response record as it sits in a .warc(.gz) file."""
    out = io.BytesIO()
    response(WARCWriter(out, gzip=gzip_it), uri, date, body, "application/rss+xml")
    return out.getvalue()


@pytest.fixture(scope="module")
def crawl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A crawler's WARC: bookkeeping records, a feed twice (once unchanged), a page, a 404, a gzip-served feed."""
    path = tmp_path_factory.mktemp("warc") / "crawl-20250107.warc.gz"
    with path.open("wb") as out:
        writer = WARCWriter(out, gzip=True)
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "test-crawler/1.0"}))
        request = writer.create_warc_record(
            FEED_URL,
            "request",
            payload=io.BytesIO(b""),
            http_headers=StatusAndHeaders(
                "GET /rss HTTP/1.1", [("Host", "novosti-sibiri.example.ru")], is_http_request=True
            ),
            warc_headers_dict={"WARC-Date": "2025-01-07T09:12:00Z"},
        )
        writer.write_record(request)
        response(writer, FEED_URL, "2025-01-07T09:12:00Z", RU_FEED, "application/rss+xml; charset=windows-1251")
        revisit = writer.create_revisit_record(
            FEED_URL,
            "sha1:4LJKNUBTOAS63MLWEPZUW3LL3WJSWTXN",
            FEED_URL,
            "2025-01-07T09:12:00Z",
            http_headers=StatusAndHeaders("304 Not Modified", [], protocol="HTTP/1.1"),
        )
        revisit.rec_headers.replace_header("WARC-Date", "2025-01-07T10:12:00Z")
        writer.write_record(revisit)
        response(writer, "https://novosti-sibiri.example.ru/about", "2025-01-07T09:13:00Z", HTML_PAGE, "text/html; charset=utf-8")
        response(writer, "https://novosti-sibiri.example.ru/old-rss", "2025-01-07T09:14:00Z", b"<html>gone</html>", "text/html", "404 Not Found")
        response(
            writer,
            "https://www.mz-lokal.example.de/rss",
            "2025-01-07T11:00:00.500000+01:00",
            gzip.compress(DE_FEED),
            "application/xml",
            extra_headers=(("Content-Encoding", "gzip"),),
        )
    return path


def test_warc_records_become_captures_or_skips(crawl: Path) -> None:
    records = list(read_warc(crawl))
    # The HTML page is an article page for the pipeline to join to an item (tracker.reader.pages).
    assert [type(r).__name__ for r in records] == ["Skipped", "Skipped", "Capture", "Capture", "PageCapture", "Skipped", "Capture"]
    reasons = [r.reason for r in records if isinstance(r, Skipped)]
    assert reasons[0] == "warcinfo record"
    assert reasons[1] == "request record"
    assert reasons[2] == "HTTP 404 response for https://novosti-sibiri.example.ru/old-rss"
    page = records[4]
    assert page.url == page.final_url == "https://novosti-sibiri.example.ru/about" and page.body == HTML_PAGE
    assert page.header("content-type") == "text/html; charset=utf-8"
    assert all(r.where.startswith(crawl.name) for r in records if isinstance(r, Skipped))


def test_response_capture(crawl: Path) -> None:
    capture = next(r for r in read_warc(crawl) if isinstance(r, Capture))
    assert capture.feed_url == FEED_URL
    assert capture.kind == "response"
    assert capture.captured_at == datetime(2025, 1, 7, 9, 12)
    assert capture.captured_at.tzinfo is None
    assert capture.status == 200
    assert capture.content_type == "application/rss+xml; charset=windows-1251"
    assert capture.body == RU_FEED
    assert capture.payload_digest and capture.payload_digest.startswith("sha1:")
    assert capture.source.startswith(f"warc:{crawl.name}#<urn:uuid:")
    # The archived bytes are the feed itself: it still parses, encoding and all.
    assert parse_feed(capture.body, capture.content_type).entries[0].title.startswith("Мэрия Новосибирска")


def test_revisit_is_a_capture_without_a_body(crawl: Path) -> None:
    revisit = [r for r in read_warc(crawl) if isinstance(r, Capture)][1]
    assert revisit.kind == "revisit"
    assert revisit.feed_url == FEED_URL
    assert revisit.body is None
    assert revisit.captured_at == datetime(2025, 1, 7, 10, 12)
    assert revisit.payload_digest == "sha1:4LJKNUBTOAS63MLWEPZUW3LL3WJSWTXN"


def test_gzip_encoded_feed_is_decoded_and_offset_date_is_utc(crawl: Path) -> None:
    capture = [r for r in read_warc(crawl) if isinstance(r, Capture)][2]
    assert capture.feed_url == "https://www.mz-lokal.example.de/rss"
    assert capture.body == DE_FEED  # Content-Encoding: gzip undone
    assert capture.captured_at == datetime(2025, 1, 7, 10, 0, 0, 500000)


def _arc_record(header: str, block: bytes) -> bytes:
    """One ARC v1 record: its header line (URL, IP, 14-digit date, type, length), then its block."""
    return f"{header} {len(block)}\n".encode() + block + b"\n"


@pytest.mark.parametrize("compressed", [False, True])
def test_arc_file_is_read_as_warc(tmp_path: Path, compressed: bool) -> None:
    """The Internet Archive's older crawls are ARC files: their feed responses are captures too."""
    about = b"1 0 Crawl\nURL IP-address Archive-date Content-type Archive-length\n"
    http = b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml; charset=windows-1251\r\n\r\n" + RU_FEED
    records = [
        _arc_record("filedesc://crawl.arc 0.0.0.0 20250107090000 text/plain", about),
        _arc_record(f"{FEED_URL} 192.0.2.7 20250107091200 application/rss+xml", http),
    ]
    path = tmp_path / ("crawl.arc.gz" if compressed else "crawl.arc")
    path.write_bytes(b"".join(gzip.compress(r) for r in records) if compressed else b"".join(records))
    found = list(read_warc(path))
    captures = [r for r in found if isinstance(r, Capture)]
    assert len(captures) == 1 and len(found) == 2  # the file's description record is skipped
    assert captures[0].feed_url == FEED_URL and captures[0].captured_at == datetime(2025, 1, 7, 9, 12)
    assert captures[0].body == RU_FEED and captures[0].status == 200


def test_damaged_gzip_keeps_what_came_before(tmp_path: Path) -> None:
    """Bytes flipped inside the second record's gzip member: the first capture stands, then one Skipped."""
    second = bytearray(record_bytes("https://www.mz-lokal.example.de/rss", DE_FEED, gzip_it=True))
    for i in range(200, 260):
        second[i] ^= 0xFF
    path = tmp_path / "damaged.warc.gz"
    path.write_bytes(record_bytes(FEED_URL, RU_FEED, gzip_it=True) + bytes(second))
    records = list(read_warc(path))
    assert isinstance(records[0], Capture) and records[0].body == RU_FEED
    assert len(records) == 2
    assert isinstance(records[1], Skipped)
    assert records[1].reason.startswith("archive damaged after this point")


def test_garbage_file_named_warc_is_one_skip(tmp_path: Path) -> None:
    path = tmp_path / "garbage.warc.gz"
    path.write_bytes(random.Random(1).randbytes(3000))
    records = list(read_warc(path))
    assert len(records) == 1 and isinstance(records[0], Skipped)
    assert "archive damaged" in records[0].reason
    # Said in words, not as the bytes warcio found instead of a record.
    assert "not an archive" in records[0].reason and records[0].reason.isascii()


def _truncated_gzip(data: bytes) -> bytes:
    """A gzip stream cut off after `data`: no final block, no trailer — as a crawler killed mid-write leaves it."""
    compressor = zlib.compressobj(wbits=31)
    return compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)


@pytest.mark.parametrize("compressed", [True, False], ids=["warc.gz", "warc"])
def test_record_truncated_in_its_body_is_not_a_capture(tmp_path: Path, compressed: bool) -> None:
    second = record_bytes("https://www.mz-lokal.example.de/rss", DE_FEED, gzip_it=False)[:-400]
    first = record_bytes(FEED_URL, RU_FEED, gzip_it=compressed)
    path = tmp_path / ("cut.warc.gz" if compressed else "cut.warc")
    path.write_bytes(first + (_truncated_gzip(second) if compressed else second))
    records = list(read_warc(path))
    assert isinstance(records[0], Capture) and records[0].body == RU_FEED
    assert not any(isinstance(r, Capture) and r.feed_url.startswith("https://www.mz-lokal") for r in records)
    assert isinstance(records[-1], Skipped)


@pytest.mark.parametrize("compressed", [True, False], ids=["warc.gz", "warc"])
def test_record_truncated_in_its_headers_is_skipped(tmp_path: Path, compressed: bool) -> None:
    full = record_bytes("https://www.mz-lokal.example.de/rss", DE_FEED, gzip_it=False)
    second = full[: full.index(b"WARC-Target-URI")]  # WARC-Type: response arrived, the target did not
    first = record_bytes(FEED_URL, RU_FEED, gzip_it=compressed)
    path = tmp_path / ("cut.warc.gz" if compressed else "cut.warc")
    path.write_bytes(first + (_truncated_gzip(second) if compressed else second))
    records = list(read_warc(path))
    assert isinstance(records[0], Capture)
    assert isinstance(records[-1], Skipped)


def test_missing_warc_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        list(read_warc(tmp_path / "absent.warc.gz"))


@pytest.mark.parametrize(
    ("name", "expected"),
    [("crawl.warc.gz", True), ("CRAWL.WARC", True), ("old.arc.gz", True), ("x.arc", True), ("feed.xml", False), ("warc.gz.txt", False)],
)
def test_is_warc_by_name(name: str, expected: bool) -> None:
    assert is_warc(Path(name)) is expected


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (RU_FEED, None, True),
        (b"\xef\xbb\xbf\n<rss version='2.0'><channel/></rss>", None, True),
        (b"<feed xmlns='http://www.w3.org/2005/Atom'/>", "text/plain", True),
        (b"whatever", "application/atom+xml", True),
        (HTML_PAGE, "text/html", False),
        (b'<?xml version="1.0"?>\n<!DOCTYPE html><html xmlns="http://www.w3.org/1999/xhtml"></html>', None, False),
        (b"{}", "application/json", False),
    ],
    ids=["xml-prolog", "bom-rss", "atom-tag", "by-type", "html", "xhtml", "json"],
)
def test_looks_like_feed(body: bytes, content_type: str | None, expected: bool) -> None:
    assert looks_like_feed(body, content_type) is expected


def test_feed_file_with_a_given_time(tmp_path: Path) -> None:
    path = tmp_path / "feed.xml"
    path.write_bytes(DE_FEED)
    when = datetime(2025, 1, 6, 18, 0)
    capture = read_feed_file(path, "https://www.mz-lokal.example.de/rss", when)
    assert capture == Capture("https://www.mz-lokal.example.de/rss", when, "file", DE_FEED, f"file:{path}")


def test_feed_file_without_a_time_uses_its_mtime(tmp_path: Path) -> None:
    path = tmp_path / "feed.xml"
    path.write_bytes(DE_FEED)
    stamp = datetime(2025, 1, 7, 9, 12, tzinfo=UTC).timestamp()
    os.utime(path, (stamp, stamp))
    capture = read_feed_file(path, "https://www.mz-lokal.example.de/rss", None)
    assert capture.captured_at == datetime(2025, 1, 7, 9, 12)
    assert capture.captured_at.tzinfo is None


def test_missing_feed_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        read_feed_file(tmp_path / "absent.xml", "https://example.com/rss", None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-01-07T09:12:00Z", datetime(2025, 1, 7, 9, 12)),
        ("2025-01-07T12:12:00+03:00", datetime(2025, 1, 7, 9, 12)),
        ("2025-01-06T22:12:00-11:00", datetime(2025, 1, 7, 9, 12)),
        ("2025-01-07T09:12:00", datetime(2025, 1, 7, 9, 12)),  # no zone means UTC
        (" 2025-01-07 09:12:00.250Z ", datetime(2025, 1, 7, 9, 12, 0, 250000)),
        ("2025-01-07", datetime(2025, 1, 7)),
    ],
)
def test_parse_time(text: str, expected: datetime) -> None:
    when = parse_time(text)
    assert when == expected
    assert when.tzinfo is None


@pytest.mark.parametrize("text", ["yesterday", "", "07/01/2025", "2025-13-01T00:00:00Z"])
def test_parse_time_rejects_garbage(text: str) -> None:
    with pytest.raises(InputError, match="not an ISO-8601 date and time"):
        parse_time(text)


def test_a_gzip_member_cut_before_its_first_byte_is_reported_not_lost(tmp_path: Path) -> None:
    """warcio ends quietly on a member cut in its gzip header: the lost record must still be heard of."""
    first = record_bytes(FEED_URL, RU_FEED, gzip_it=True)
    second = record_bytes("https://www.mz-lokal.example.de/rss", DE_FEED, gzip_it=True)
    path = tmp_path / "cut.warc.gz"
    path.write_bytes(first + second[:12])
    records = list(read_warc(path))
    assert isinstance(records[0], Capture) and records[0].body == RU_FEED
    assert len(records) == 2 and isinstance(records[1], Skipped) and records[1].kind == "damaged"
    assert "12 bytes at its end are not a whole record" in records[1].reason


@pytest.mark.parametrize("compressed", [True, False], ids=["warc.gz", "warc"])
def test_a_whole_archive_has_no_damage_at_its_end(tmp_path: Path, compressed: bool) -> None:
    path = tmp_path / ("whole.warc.gz" if compressed else "whole.warc")
    path.write_bytes(record_bytes(FEED_URL, RU_FEED, gzip_it=compressed) + record_bytes(FEED_URL, DE_FEED, gzip_it=compressed))
    assert [type(r) for r in read_warc(path)] == [Capture, Capture]


@pytest.mark.parametrize("value", ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "1970-01-01T00:00:00Z"])
def test_a_capture_time_from_the_future_or_before_the_web_is_refused(value: str) -> None:
    from tracker.reader.archive import parse_time
    from tracker.errors import InputError

    with pytest.raises(InputError, match="out of range"):
        parse_time(value)
    assert parse_time("2025-01-07T09:30:00Z").year == 2025


def test_workers_archiving_into_one_folder_in_the_same_second_write_files_of_their_own(tmp_path: Path) -> None:
    # `run --workers N` starts N processes with one [archive] dir at once: each must have its
    # own file, or their records interleave (and a killed worker's torn record sits mid-file).
    script = (
        "import datetime as d, sys, pathlib, tracker.reader.archive as a\n"
        "class Frozen(d.datetime):\n"
        "    @classmethod\n"
        "    def now(cls, tz=None): return d.datetime(2026, 1, 1, 12, 0, 0, tzinfo=tz)\n"
        "a.datetime = Frozen\n"
        "w = a.WarcArchive(pathlib.Path(sys.argv[1]))\n"
        "w.write(sys.argv[2], d.datetime(2026, 1, 1, 12, 0, 0), 200, (('Content-Type', 'application/rss+xml'),), b'<rss/>' * 3000)\n"
        "w.close()\n"
    )
    for feed in ("https://a.example/feed", "https://b.example/feed"):
        subprocess.run([sys.executable, "-c", script, str(tmp_path), feed], check=True, timeout=60)
    files = sorted(tmp_path.glob("*.warc.gz"))
    assert len(files) == 2
    assert [[c.feed_url for c in read_warc(f)] for f in files] in (
        [["https://a.example/feed"], ["https://b.example/feed"]], [["https://b.example/feed"], ["https://a.example/feed"]])


# -- one malformed record, and the records after it --------------------------------------------------------
AFTER_URL = "https://www.mz-lokal.example.de/rss"


def _with_warc_length(record: bytes, length: str | None) -> bytes:
    """An uncompressed record (record_bytes) whose WARC Content-Length says `length`, or is gone."""
    head, _, rest = record.partition(b"\r\n\r\n")
    lines = [line for line in head.split(b"\r\n") if not line.startswith(b"Content-Length:")]
    if length is not None:
        lines.append(b"Content-Length: " + length.encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + rest


def _between(tmp_path: Path, middle: bytes, *, compressed: bool) -> Path:
    """An archive of a good record, `middle` (uncompressed bytes), and another good record."""
    path = tmp_path / ("mid.warc.gz" if compressed else "mid.warc")
    path.write_bytes(record_bytes(FEED_URL, RU_FEED, gzip_it=compressed)
                     + (gzip.compress(middle) if compressed else middle)
                     + record_bytes(AFTER_URL, DE_FEED, gzip_it=compressed))
    return path


@pytest.mark.parametrize("compressed", [True, False], ids=["warc.gz", "warc"])
def test_a_record_without_a_target_uri_is_skipped_alone_and_the_walk_goes_on(tmp_path: Path, compressed: bool) -> None:
    """warcio fails on such a record while reading its HTTP headers: that must not end the walk."""
    path = _between(tmp_path, record_bytes("", RU_FEED, gzip_it=False), compressed=compressed)
    records = list(read_warc(path))
    assert [type(r) for r in records] == [Capture, Skipped, Capture]
    assert records[2].feed_url == AFTER_URL and records[2].body == DE_FEED
    assert records[1].kind == "broken" and "without a WARC-Target-URI" in records[1].reason
    assert "NoneType" not in records[1].reason


def test_a_record_whose_target_hides_a_password_from_the_masking_is_skipped_without_quoting_it(tmp_path: Path) -> None:
    """An unencoded "/" in a password ends the URL's host where it stands: no client asked
    for such a URL, and no masking can tell the password from the path."""
    path = _between(tmp_path, record_bytes("https://user:zq/xv@feeds.example/rss", RU_FEED, gzip_it=False), compressed=True)
    records = list(read_warc(path))
    assert [type(r) for r in records] == [Capture, Skipped, Capture]
    assert records[1].kind == "broken" and "target URI is unreadable" in records[1].reason
    assert "zq" not in records[1].reason and "zq" not in records[1].where


@pytest.mark.parametrize("length", ["-5", "many", None])
def test_a_gzip_member_without_a_valid_content_length_is_skipped_alone_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], length: str | None) -> None:
    """Each record of a .warc.gz is its own gzip member: the next one is found whatever this one says."""
    path = _between(tmp_path, _with_warc_length(record_bytes(FEED_URL, RU_FEED, gzip_it=False), length), compressed=True)
    records = list(read_warc(path))
    assert [type(r) for r in records] == [Capture, Skipped, Capture]
    assert records[1].kind == "broken" and "without a valid Content-Length" in records[1].reason
    assert capsys.readouterr().err == ""  # not warcio's warning of several lines


@pytest.mark.parametrize("compressed", [True, False], ids=["warc.gz", "warc"])
def test_a_record_longer_than_its_content_length_is_a_broken_record_told_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], compressed: bool) -> None:
    """Not a capture cut at its stated length: a broken record, said once (warcio prints its own warning)."""
    path = _between(tmp_path, _with_warc_length(record_bytes(FEED_URL, RU_FEED, gzip_it=False), "40"), compressed=compressed)
    records = list(read_warc(path))
    assert isinstance(records[0], Capture) and isinstance(records[1], Skipped)
    assert records[1].kind == "broken" and "longer than its Content-Length says" in records[1].reason
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("length", ["-5", None])
def test_an_uncompressed_record_without_a_valid_content_length_is_damage_told_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], length: str | None) -> None:
    """Where the next record starts is unknown: the walk stops (warcio would read on into it,
    taking its bytes for this record's body, or print its own warning and stop)."""
    path = _between(tmp_path, _with_warc_length(record_bytes(FEED_URL, RU_FEED, gzip_it=False), length), compressed=False)
    records = list(read_warc(path))
    assert [type(r) for r in records] == [Capture, Skipped]
    assert records[1].kind == "damaged" and "without a valid Content-Length" in records[1].reason
    assert capsys.readouterr().err == ""


# -- plain feed files ---------------------------------------------------------------------------------------
def test_a_feed_file_over_the_cap_is_skipped_unread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tracker.reader.archive, "WARC_BODY_MAX", 1000)
    path = tmp_path / "huge.xml"
    path.write_bytes(RU_FEED[:1001])
    skipped = read_feed_file(path, FEED_URL, None)
    assert isinstance(skipped, Skipped) and skipped.kind == "too large"
    assert skipped.where == str(path) and "not read" in skipped.reason
    path.write_bytes(RU_FEED[:1000])
    assert isinstance(read_feed_file(path, FEED_URL, None), Capture)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_feed_file_with_no_size_to_check_is_read_no_further_than_the_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A FIFO (or /dev/zero) says nothing of its size beforehand: reading stops past the cap all the same."""
    monkeypatch.setattr(tracker.reader.archive, "WARC_BODY_MAX", 1000)
    fifo = tmp_path / "feed.xml"
    os.mkfifo(fifo)
    written: list[int] = []

    def write() -> None:
        sent = 0
        try:
            with fifo.open("wb") as out:
                for _ in range(64):
                    sent += out.write(b"<" * 4096)
                    out.flush()
        except BrokenPipeError:
            pass  # the reader stopped reading: what it should do
        written.append(sent)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    skipped = read_feed_file(fifo, FEED_URL, None)
    writer.join(timeout=10)
    assert isinstance(skipped, Skipped) and skipped.kind == "too large"
    assert written and written[0] < 64 * 4096
