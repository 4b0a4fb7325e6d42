"""Parse stage: feed bytes → `ParsedFeed`. feedparser lives here and nowhere else
(JSON Feed has its own reader, tracker.jsonfeed, which this one hands JSON to).

feedparser is lenient on purpose (real feeds are broken in every possible way); we keep
what it recovers and report its complaint as a warning. Bytes that are not a feed at
all (an HTML page, an error document) raise ParseError.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime
from typing import Any

import feedparser

from tracker.errors import ParseError
from tracker.feedtext import clean, clean_opt, claimable, text_value
from tracker.identity import site_of
from tracker.jsonfeed import is_json_body, parse_json_feed
from tracker.model import Attribution, ParsedEntry, ParsedFeed
from tracker.pages import public_link

_ROOT_END = re.compile(rb"</(?:[\w-]+:)?(?:rss|feed|RDF|rdf)\s*>\s*(?:<!--.*?-->\s*)*$", re.DOTALL)


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
            return claimable(when)
    return None


def _link(entry: Any) -> str | None:
    if entry.get("link"):
        return clean_opt(entry["link"])
    for link in entry.get("links", ()):
        if link.get("rel", "alternate") == "alternate" and link.get("href"):
            return clean_opt(link["href"])
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
        name = clean_opt(source.get("title"))
        url = clean_opt(source.get("href") or source.get("link"))
        if name or url:
            found.append(Attribution("source_element", name, url))
    for link in entry.get("links", ()):
        if link.get("rel") == "via" and link.get("href"):
            found.append(Attribution("via_link", clean_opt(link.get("title")), clean_opt(link["href"])))
        if link.get("rel") == "canonical" and own_link:
            # An entry naming another site's article its canonical form credits it; on its own site it is its identity.
            canonical = public_link(clean_opt(link.get("href")), own_link)
            if canonical and site_of(canonical) != site_of(own_link):
                found.append(Attribution("canonical", None, canonical))
    return tuple(found)


def _entry(entry: Any) -> ParsedEntry:
    body, body_is_html, summary = _body(entry)
    title_detail = entry.get("title_detail", {})
    title = text_value(entry.get("title"), "html" in (title_detail.get("type") or ""))
    link = _link(entry)
    return ParsedEntry(
        guid=clean_opt(entry.get("id")),
        link=link,
        title=title,
        author=clean_opt(entry.get("author")),
        claimed_at=_when(entry, "published_parsed", "updated_parsed", "created_parsed"),
        content=body,
        content_is_html=body_is_html,
        summary=summary,
        attributions=_declared_sources(entry, link),
    )


def parse_feed(body: bytes, content_type: str | None = None) -> ParsedFeed:
    """Parse feed bytes: any RSS, Atom or RDF feedparser knows, or a JSON Feed (tracker.jsonfeed).

    Raises ParseError when the bytes are not a feed. Sanitising and relative-URI
    resolution are off: the tracker never renders the HTML, it only reads its text,
    and they double feedparser's cost.
    """
    if is_json_body(body, content_type):
        return parse_json_feed(body)
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
        title=text_value(feed.get("title"), False) or None,
        site_url=clean_opt(feed.get("link")),
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
