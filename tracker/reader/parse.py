"""Parse stage: feed bytes → `ParsedFeed`. feedparser lives here and nowhere else
(JSON Feed has its own reader, tracker.reader.jsonfeed, which this one hands JSON to).

feedparser is lenient on purpose (real feeds are broken in every possible way); we keep
what it recovers and report its complaint as a warning. Bytes that are not a feed at
all (an HTML page, an error document) raise ParseError.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import threading
import time
from dataclasses import replace
from datetime import datetime
from sys import getsizeof
from typing import Any

import feedparser

from tracker.detection.identity import site_of
from tracker.errors import ParseError
from tracker.model import Attribution, ParsedEntry, ParsedFeed
from tracker.reader.dates import Reading, claim_at, read_claims
from tracker.reader.entrymemory import EntryMemory, Plan
from tracker.reader.feedslices import FeedSlices, NotSliceable
from tracker.reader.feedtext import (  # noqa: F401 (FIELD_MAX: the caps are named here too)
    ATTRIBUTES_MAX, ENTRY_MARKUP_MAX, FIELD_MAX, clean, clean_opt, crowded_element, text_value)
from tracker.reader.jsonfeed import is_json_body, parse_json_feed
from tracker.reader.links import with_whole_links
from tracker.reader.pages import public_link

# What one entry may bring out of the parse stage (characters): the body (content or
# summary) is cut to ENTRY_MARKUP_MAX, a one-line field (title, link, GUID, author, names)
# to FIELD_MAX (tracker.reader.feedtext), before anything copies them. Normal entries are far below
# both; a hostile 50 MB entry otherwise costs gigabytes in every later stage (and in
# pickling between processes). The body's full length is kept (`ParsedEntry.content_chars`).
# A text longer than RUN_MAX_BYTES in one piece of the document (bytes) is cut before
# feedparser reads it (`_cut_long_texts`): at most 4 bytes a character, it still holds more
# than ENTRY_MARKUP_MAX characters.
RUN_MAX_BYTES = 4 * ENTRY_MARKUP_MAX
# A feed document larger than this (bytes) is read a slice of entries at a time, each slice
# about SLICE_BYTES (tracker.reader.feedslices): feedparser would hold it whole several times over.
SLICE_FROM_BYTES = 8 * 2**20
SLICE_BYTES = 2 * 2**20
_CONTINUATION = bytes(range(0x80, 0xC0))  # a character is counted by its bytes but these
_STEP = 1 << 20
_ROOT_END = re.compile(rb"</(?:[\w-]+:)?(?:rss|feed|RDF|rdf)\s*>\s*(?:<!--.*?-->\s*)*$", re.DOTALL)

# The entries this process parsed, per feed: a polled feed repeats most of its entries,
# and only the new ones are handed to feedparser (`parse_feed` with a feed URL).
MEMORY = EntryMemory()
# The namespaces feedparser knows, each by its own prefix (tracker.reader.feedlayout); none
# if a feedparser release keeps them elsewhere (fewer documents are then cut into entries).
_KNOWN_NAMESPACES = {
    uri.lower(): prefix for uri, prefix in getattr(getattr(feedparser.mixin, "_FeedParserMixin", None), "namespaces", {}).items()
}


# Numeric character references to UTF-16 surrogates: no character, and some XML readers
# abort the whole document on one. They are read as U+FFFD instead.
_SURROGATE_REF = re.compile(rb"&#(?:[xX]0*[dD][89a-fA-F][0-9a-fA-F]{2}|0*(?:5529[6-9]|55[3-9][0-9]{2}|56[0-9]{3}|57[0-2][0-9]{2}|573[0-3][0-9]|5734[0-3]));")


def _readings(entry: Any) -> tuple[Reading, ...]:
    """The entry's date strings (published, else updated, else created) read from the raw
    string, not feedparser's reading of it, which coerces impossible dates into real ones;
    `_dated` picks the claim for a capture."""
    # dict.get, not entry.get: feedparser maps a missing "updated" to "published".
    return read_claims(dict.get(entry, key) for key in ("published", "updated", "created"))


def _dated(entry: ParsedEntry, readings: tuple[Reading, ...], captured_at: datetime | None) -> ParsedEntry:
    """`entry` with the date it claims for a capture at `captured_at` (or None and why the
    first date given claims nothing): the same entry when that is what it holds already."""
    claimed_at, rejected = claim_at(readings, captured_at)
    if (claimed_at, rejected) == (entry.claimed_at, entry.claimed_rejected):
        return entry
    return replace(entry, claimed_at=claimed_at, claimed_rejected=rejected)


def _link(entry: Any) -> str | None:
    if entry.get("link"):
        return clean_opt(entry["link"])
    for link in entry.get("links", ()):
        if link.get("rel", "alternate") == "alternate" and link.get("href"):
            return clean_opt(link["href"])
    return None


def _cut_long_texts(body: bytes, mark: str) -> bytes:
    """`body` with every text over RUN_MAX_BYTES in one piece (character data or a CDATA
    section) cut to its first RUN_MAX_BYTES, followed by `mark` and the number of
    characters cut (`_served`). feedparser holds what it parses four to five times over:
    it must never see a 50 MB entry whole. A body of at most RUN_MAX_BYTES is unchanged."""
    if len(body) <= RUN_MAX_BYTES or body[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return body  # nothing can be that long (and UTF-16 is not cut byte-wise)
    pieces: list[bytes] = []
    kept = position = 0

    def cut_run(text: int, end: int, escaped: bool) -> None:
        nonlocal kept
        if end - text <= RUN_MAX_BYTES:
            return
        cut = text + RUN_MAX_BYTES
        while cut > text and body[cut] & 0xC0 == 0x80:  # not inside a UTF-8 character
            cut -= 1
        if escaped and (amp := body.rfind(b"&", cut - 12, cut)) >= 0 and b";" not in body[amp:cut]:
            cut = amp  # not inside an entity reference
        removed = sum(len(body[i : min(i + _STEP, end)].translate(None, _CONTINUATION)) for i in range(cut, end, _STEP))
        pieces.extend((body[kept:cut], f" {mark}{removed}.".encode()))
        kept = end

    while position < len(body):
        start = body.find(b"<", position)
        start = len(body) if start < 0 else start
        cut_run(position, start, escaped=True)
        if body.startswith(b"<![CDATA[", start):
            end = body.find(b"]]>", start + 9)
            end, position = (len(body), len(body)) if end < 0 else (end, end + 3)
            cut_run(start + 9, end, escaped=False)
        else:
            close = body.find(b">", start)
            position = len(body) if close < 0 else close + 1
    return body if not pieces else b"".join([*pieces, body[kept:]])


def _served(value: str, mark: str) -> tuple[str, int]:
    """A value without the cut mark `_cut_long_texts` left in it, and its length as served."""
    where = value.find(mark)
    if where < 1:
        return value, len(value)
    end = value.find(".", where)
    removed = value[where + len(mark) : end]
    rest = value[end + 1 :]
    return value[: where - 1] + rest, where - 1 + (int(removed) if removed.isdigit() else 0) + len(rest)


def _body(entry: Any, mark: str) -> tuple[str, bool, str, int]:
    """The fullest body an entry carries (content beats summary), whether it is HTML, the
    summary, and the body's length as served; body and summary cut to ENTRY_MARKUP_MAX."""
    summary, summary_chars = _served(entry.get("summary") or "", mark)
    summary_is_html = "html" in (entry.get("summary_detail", {}).get("type") or "text/html")
    best, best_html, served = summary, summary_is_html, summary_chars
    for content in entry.get("content", ()):
        value, chars = _served(content.get("value") or "", mark)
        if chars > served:
            best, best_html, served = value, "html" in (content.get("type") or "text/html"), chars
    # Cut before cleaning: cleaning copies the whole string, twice.
    other = clean(summary[:ENTRY_MARKUP_MAX]) if summary != best else ""
    return clean(best[:ENTRY_MARKUP_MAX]), best_html, other, served


def _declared_sources(entry: Any, own_link: str | None) -> tuple[Attribution, ...]:
    found: list[Attribution] = []
    source = entry.get("source")
    if source:
        name = clean_opt(source.get("title"))
        url = clean_opt(source.get("href") or source.get("link"))
        if name or url:
            found.append(Attribution("source_element", name, url))
    # Dublin Core's source ("a related resource from which the described resource is
    # derived"): an aggregator's credit, a URL or a name; its own site credits nobody.
    dc_source = clean_opt(entry.get("dc_source"))
    if dc_source and not dc_source.startswith(("http://", "https://")):
        found.append(Attribution("dc_source", dc_source, None))
    elif dc_source and (own_link is None or site_of(dc_source) != site_of(own_link)):
        found.append(Attribution("dc_source", None, dc_source))
    for link in entry.get("links", ()):
        if link.get("rel") == "via" and link.get("href"):
            found.append(Attribution("via_link", clean_opt(link.get("title")), clean_opt(link["href"])))
        if link.get("rel") == "canonical" and own_link:
            # An entry naming another site's article its canonical form credits it; on its own site it is its identity.
            canonical = public_link(clean_opt(link.get("href")), own_link)
            if canonical and site_of(canonical) != site_of(own_link):
                found.append(Attribution("canonical", None, canonical))
    return tuple(found)


def _entry(entry: Any, mark: str, captured_at: datetime | None) -> ParsedEntry:
    return _dated(_undated(entry, mark), _readings(entry), captured_at)


def _undated(entry: Any, mark: str) -> ParsedEntry:
    """What an entry says (feedparser's reading of it) but its date (`_dated`)."""
    body, body_is_html, summary, served = _body(entry, mark)
    title_detail = entry.get("title_detail", {})
    title = text_value(entry.get("title"), "html" in (title_detail.get("type") or ""))
    link = _link(entry)
    return ParsedEntry(
        guid=clean_opt(entry.get("id")),
        link=link,
        title=title,
        author=clean_opt(entry.get("author")),
        claimed_at=None,
        content=body,
        content_is_html=body_is_html,
        summary=summary,
        attributions=_declared_sources(entry, link),
        content_chars=served,
    )


def parse_feed(
    body: bytes, content_type: str | None = None, captured_at: datetime | None = None, feed_url: str | None = None
) -> ParsedFeed:
    """Parse feed bytes: any RSS, Atom or RDF feedparser knows, or a JSON Feed (tracker.reader.jsonfeed).

    Raises ParseError when the bytes are not a feed. Sanitising and relative-URI
    resolution are off: the tracker never renders the HTML, it only reads its text,
    and they double feedparser's cost. With `captured_at` (naive UTC), an entry dated after
    the capture (beyond tracker.reader.dates.CLOCK_SKEW) claims no date. With `feed_url`,
    the entries this process parsed before for that feed are not parsed again
    (`MEMORY`, tracker.reader.entrymemory): feedparser reads the document without them, and
    the result is the same; and the entries' links written as paths are made whole against
    it (`tracker.reader.links`).
    """
    parsed = _parse_feed(body, content_type, captured_at, feed_url)
    return with_whole_links(parsed, feed_url) if feed_url else parsed


def _parse_feed(body: bytes, content_type: str | None, captured_at: datetime | None, feed_url: str | None) -> ParsedFeed:
    if is_json_body(body, content_type):
        return parse_json_feed(body, captured_at)
    crowded = crowded_element(body)
    if crowded is not None:
        raise ParseError(f"not a feed (an element with {crowded} attributes, at most {ATTRIBUTES_MAX})")
    headers = {"content-type": content_type} if content_type else None
    body = _SURROGATE_REF.sub(b"&#xFFFD;", body)
    # A mark no feed can forge: a feed's own text never says what was cut from it.
    mark = f"[cut {secrets.token_hex(8)}] "
    whole = _cut_long_texts(body, mark)
    if len(whole) > SLICE_FROM_BYTES and _utf8_or_declared(content_type):
        sliced = _parse_in_slices(whole, mark, captured_at)
        if sliced is not None:
            return sliced
    plan = None
    # Only a document nothing was cut from: a cut leaves a mark of this parse in the entries.
    if feed_url is not None and whole is body and len(body) <= SLICE_FROM_BYTES:
        plan = MEMORY.plan(body, content_type, feed_url, _KNOWN_NAMESPACES)
    body, parsed = whole, None
    if plan is not None:
        parsed = _feedparser_or_none(plan.document, headers)
        if parsed is not None and _agrees(plan, parsed):
            entries = _recalled(plan, parsed.entries, mark, captured_at)
            return _parsed_feed(parsed.get("feed", {}), entries, _warning(parsed))
        if plan.document is not body:
            parsed = None  # the whole is parsed after all
    if parsed is None:
        parsed = _feedparser(body, headers)
    problem = parsed.get("bozo_exception")
    if not parsed.get("version") and not parsed.entries:
        reason = f" ({problem})" if problem else ""
        raise ParseError(f"not a feed{reason}")
    if problem and not _ROOT_END.search(body[-300:]):
        # Lenient parsing of a cut-off document invents half items; refuse it whole.
        raise ParseError(f"incomplete feed document, truncated? ({problem})")
    entries = tuple(_entry(e, mark, captured_at) for e in parsed.entries)
    return _parsed_feed(parsed.get("feed", {}), entries, _warning(parsed))


def _agrees(plan: Plan, parsed: Any) -> bool:
    """Whether feedparser's reading of the plan's document is, entry for entry, its reading
    of the whole capture: a strict parse (no complaint but the content type's, which the
    whole draws too), one entry for each left in the document. (The whole decodes as the
    document does: what was left out was read in the same context, content type and
    XML declaration included, by a parse with no complaint of its encoding.)"""
    problem = parsed.get("bozo_exception")
    if problem is not None and (not isinstance(problem, feedparser.NonXMLContentType) or not _ROOT_END.search(plan.body[-300:])):
        return False
    return len(parsed.entries) == plan.fresh


def _recalled(plan: Plan, fresh: list[Any], mark: str, captured_at: datetime | None) -> tuple[ParsedEntry, ...]:
    """The capture's entries in order: the plan's remembered ones, and feedparser's reading
    of the others, which are remembered then (but those whose parse depends on the head
    before them)."""
    parsed = iter(fresh)
    entries: list[ParsedEntry] = []
    kept: list[tuple[bytes, Any, int]] = []
    for index, (key, known) in enumerate(zip(plan.keys, plan.recalled)):
        if known is None:
            raw = next(parsed)
            readings = _readings(raw)
            known = (_dated(_undated(raw, mark), readings, captured_at), readings)
            if index not in plan.shape.sensitive:
                kept.append((key, known, _size(known[0])))
        entries.append(_dated(known[0], known[1], captured_at))
    MEMORY.keep(plan.feed, plan.shape.context, plan.keys, kept)
    return tuple(entries)


def _size(entry: ParsedEntry) -> int:
    """About what remembering `entry` holds, in bytes."""
    texts = (entry.content, entry.summary, entry.title, entry.link, entry.guid, entry.author, entry.claimed_rejected)
    return 600 + 200 * len(entry.attributions) + sum(getsizeof(text) for text in texts if text)


def _feedparser(document: bytes, headers: dict[str, str] | None) -> Any:
    try:
        return feedparser.parse(document, response_headers=headers, sanitize_html=False, resolve_relative_uris=False)
    except Exception as error:  # feedparser is meant not to raise; some inputs still make it
        raise ParseError(f"unreadable feed: {error}") from None


def _feedparser_or_none(document: bytes, headers: dict[str, str] | None) -> Any:
    try:
        return _feedparser(document, headers)
    except ParseError:
        return None


def _warning(parsed: Any) -> str | None:
    problem = parsed.get("bozo_exception")
    return str(problem) if problem else None


def _parsed_feed(feed: Any, entries: tuple[ParsedEntry, ...], warning: str | None) -> ParsedFeed:
    """What a feed says of itself (feedparser's `feed`), with its entries."""
    ttl = str(feed.get("ttl") or "").strip()
    return ParsedFeed(
        title=text_value(feed.get("title"), False) or None,
        site_url=clean_opt(feed.get("link")),
        entries=entries,
        warning=warning,
        ttl_seconds=int(ttl) * 60 if ttl.isdigit() else None,
    )


def _utf8_or_declared(content_type: str | None) -> bool:
    """Whether lxml reads the document as feedparser would: a charset the HTTP header names
    (other than UTF-8) is one only feedparser heeds."""
    charset = (content_type or "").lower().partition("charset=")[2].strip(" \"';")
    return charset in ("", "utf-8", "utf8")


def _parse_in_slices(body: bytes, mark: str, captured_at: datetime | None) -> ParsedFeed | None:
    """A large, well-formed feed document read a slice of entries at a time
    (tracker.reader.feedslices), so that feedparser never holds it whole; None when it cannot be
    read so (the caller then parses it whole)."""
    slices = FeedSlices(body, SLICE_BYTES)
    entries: list[ParsedEntry] = []
    try:
        for piece in slices:
            parsed = feedparser.parse(piece, sanitize_html=False, resolve_relative_uris=False)
            if parsed.get("bozo_exception"):
                return None
            entries.extend(_entry(e, mark, captured_at) for e in parsed.entries)
    except NotSliceable:
        return None
    head = feedparser.parse(slices.head, sanitize_html=False, resolve_relative_uris=False)
    if head.get("bozo_exception") or not head.get("version"):
        return None
    return _parsed_feed(head.get("feed", {}), tuple(entries), None)


def parse_capture_body(
    body: bytes | None, content_type: str | None, captured_at: datetime | None = None, feed_url: str | None = None
) -> ParsedFeed | ParseError | None:
    """`parse_feed` for a worker process: the error is returned, not raised (None for no body)."""
    if body is None:
        return None
    try:
        return parse_feed(body, content_type, captured_at, feed_url)
    except ParseError as error:
        return error


def parser_process_started(parent: int) -> None:
    """Initialise a process that parses for `parent` (`tracker.ingest.archives.parse_ahead`).

    It lives here so that such a process imports this module alone: importing the
    ingest (its database, its detection) would cost it some 50 MB more, all the while.
    """
    # Ctrl-C reaches the whole process group: the parent stops the run cleanly, the
    # parser processes must not die mid-task with tracebacks of their own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Started with Ctrl-C held back (`archives._sigint_held`): one that came is dropped now.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    # A parent killed with -9 cannot stop its parser: the parser watches for it instead
    # (from the start: the parent may already be gone by the time this runs).

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
