"""Parse stage: feed bytes → `ParsedFeed`. feedparser lives here and nowhere else.

feedparser is lenient on purpose (real feeds are broken in every possible way); we keep
what it recovers and report its complaint as a warning. Bytes that are not a feed at
all (an HTML page, an error document) raise ParseError.
"""

from __future__ import annotations

import calendar
import html
import re
from datetime import UTC, datetime
from typing import Any

import feedparser

from tracker.errors import ParseError
from tracker.identity import site_of
from tracker.model import Attribution, ParsedEntry, ParsedFeed
from tracker.pages import public_link

_TAG = re.compile(r"<[^>]+>")
# What no database column should hold: NUL (PostgreSQL refuses it) and the other C0
# controls but tab and newlines. Lone surrogates (from "&#xD800;") cannot be encoded at all.
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean(value: str) -> str:
    """A string from a feed made storable anywhere: no NUL or C0 controls, valid Unicode."""
    value = _CONTROLS.sub("", value)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value


def _clean_opt(value: object) -> str | None:
    if not value:
        return None
    return clean(str(value)).strip() or None
_ROOT_END = re.compile(rb"</(?:[\w-]+:)?(?:rss|feed|RDF|rdf)\s*>\s*(?:<!--.*?-->\s*)*$", re.DOTALL)


def _text_value(value: str | None, is_html: bool) -> str:
    if not value:
        return ""
    value = clean(value)
    if is_html:
        value = html.unescape(_TAG.sub(" ", value))
    return " ".join(value.split())


_EARLIEST_CLAIM = datetime(1991, 1, 1)
# Numeric character references to UTF-16 surrogates: no character, and some XML readers
# abort the whole document on one. They are read as U+FFFD instead.
_SURROGATE_REF = re.compile(rb"&#(?:[xX]0*[dD][89a-fA-F][0-9a-fA-F]{2}|0*(?:5529[6-9]|55[3-9][0-9]{2}|56[0-9]{3}|57[0-2][0-9]{2}|573[0-3][0-9]|5734[0-3]));")


def _when(entry: Any, *keys: str) -> datetime | None:
    """The first date feedparser could read, as naive UTC like every time the tracker stores."""
    for key in keys:
        parsed = entry.get(key)
        if parsed:
            try:
                when = datetime.fromtimestamp(calendar.timegm(parsed), UTC).replace(tzinfo=None)
            except (OverflowError, ValueError, OSError):
                continue
            # A date before the web (year 1, the epoch of a broken CMS) claims nothing.
            return when if when >= _EARLIEST_CLAIM else None
    return None


def _link(entry: Any) -> str | None:
    if entry.get("link"):
        return _clean_opt(entry["link"])
    for link in entry.get("links", ()):
        if link.get("rel", "alternate") == "alternate" and link.get("href"):
            return _clean_opt(link["href"])
    return None


def _body(entry: Any) -> tuple[str, bool, str]:
    """The fullest body an entry carries (content beats summary), whether it is HTML, and the summary."""
    summary = entry.get("summary") or ""
    summary_is_html = "html" in (entry.get("summary_detail", {}).get("type") or "text/html")
    best, best_html = summary, summary_is_html
    for content in entry.get("content", ()):
        value = content.get("value") or ""
        if len(value) > len(best):
            best, best_html = value, "html" in (content.get("type") or "text/html")
    return clean(best), best_html, clean(summary) if summary != best else ""


def _declared_sources(entry: Any, own_link: str | None) -> tuple[Attribution, ...]:
    found: list[Attribution] = []
    source = entry.get("source")
    if source:
        name = _clean_opt(source.get("title"))
        url = _clean_opt(source.get("href") or source.get("link"))
        if name or url:
            found.append(Attribution("source_element", name, url))
    for link in entry.get("links", ()):
        if link.get("rel") == "via" and link.get("href"):
            found.append(Attribution("via_link", _clean_opt(link.get("title")), _clean_opt(link["href"])))
        if link.get("rel") == "canonical" and own_link:
            # An entry naming another site's article its canonical form credits it; on its own site it is its identity.
            canonical = public_link(_clean_opt(link.get("href")), own_link)
            if canonical and site_of(canonical) != site_of(own_link):
                found.append(Attribution("canonical", None, canonical))
    return tuple(found)


def _entry(entry: Any) -> ParsedEntry:
    body, body_is_html, summary = _body(entry)
    title_detail = entry.get("title_detail", {})
    title = _text_value(entry.get("title"), "html" in (title_detail.get("type") or ""))
    link = _link(entry)
    return ParsedEntry(
        guid=_clean_opt(entry.get("id")),
        link=link,
        title=title,
        author=_clean_opt(entry.get("author")),
        claimed_at=_when(entry, "published_parsed", "updated_parsed", "created_parsed"),
        content=body,
        content_is_html=body_is_html,
        summary=summary,
        attributions=_declared_sources(entry, link),
    )


def parse_feed(body: bytes, content_type: str | None = None) -> ParsedFeed:
    """Parse feed bytes (any RSS, Atom, RDF or JSON-less feed feedparser knows).

    Raises ParseError when the bytes are not a feed. Sanitising and relative-URI
    resolution are off: the tracker never renders the HTML, it only reads its text,
    and they double feedparser's cost.
    """
    headers = {"content-type": content_type} if content_type else None
    body = _SURROGATE_REF.sub(b"&#xFFFD;", body)
    try:
        parsed = feedparser.parse(
            body, response_headers=headers, sanitize_html=False, resolve_relative_uris=False
        )
    except Exception as error:  # feedparser is meant not to raise; some inputs still make it
        raise ParseError(f"unreadable feed: {error}") from None
    problem = parsed.get("bozo_exception")
    if not parsed.get("version") and not parsed.entries:
        reason = f" ({problem})" if problem else ""
        raise ParseError(f"not a feed{reason}")
    if problem and not _ROOT_END.search(body[-300:]):
        # Lenient parsing of a cut-off document invents half items; refuse it whole.
        raise ParseError(f"incomplete feed document, truncated? ({problem})")
    feed = parsed.get("feed", {})
    ttl = str(feed.get("ttl") or "").strip()
    return ParsedFeed(
        title=_text_value(feed.get("title"), False) or None,
        site_url=_clean_opt(feed.get("link")),
        entries=tuple(_entry(e) for e in parsed.entries),
        warning=str(problem) if problem else None,
        ttl_seconds=int(ttl) * 60 if ttl.isdigit() else None,
    )


def parse_capture_body(body: bytes | None, content_type: str | None) -> ParsedFeed | ParseError | None:
    """`parse_feed` for a worker process: the error is returned, not raised (None for no body)."""
    if body is None:
        return None
    try:
        return parse_feed(body, content_type)
    except ParseError as error:
        return error
