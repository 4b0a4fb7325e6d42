"""Parse stage for JSON Feed 1.0 and 1.1 (https://jsonfeed.org): JSON bytes → `ParsedFeed`.

The same entries as RSS and Atom come out, so everything after parsing is format-blind.
Only the standard library's json is used, made safe for hostile input: numbers are kept as
their text (a 5,000-digit number is no error and no work), nesting too deep for the
decoder is refused as a bad feed rather than a crash, and undecodable bytes become U+FFFD.
The body is already capped by whoever read it (the fetcher's `max_body_bytes`, a WARC record).
"""

from __future__ import annotations

import html
import json
import re
from datetime import datetime
from typing import Any

from tracker.errors import ParseError
from tracker.model import Attribution, ParsedEntry, ParsedFeed
from tracker.reader.dates import first_claim
from tracker.reader.feedtext import ENTRY_MARKUP_MAX, FIELD_MAX, clean, clean_opt, text_value

# A JSON document is read whole, and its objects cost up to some 30 times its bytes (a
# 60 MB body of tiny arrays peaked at 1.6 GB); JSON Feeds are a few hundred kB. Larger
# ones are refused as a feed error, like a broken feed, so that one feed's cost is bounded.
MAX_JSON_FEED_BYTES = 8 * 2**20
# The version URL names the format; PHP's json_encode writes its slashes as "\/".
_VERSION = re.compile(r"^https?://jsonfeed\.org/version/1(?:\.\d+)?/?$")
_VERSION_BYTES = re.compile(rb"jsonfeed\.org\\?/version\\?/1")
_JSON_TYPES = ("json",)
_BOM = b"\xef\xbb\xbf"


def _head(body: bytes) -> bytes:
    return body[:64].removeprefix(_BOM).lstrip(b" \t\r\n")[:1]


def is_json_body(body: bytes, content_type: str | None) -> bool:
    """Whether bytes are to be read as JSON: they start as a JSON object or array does, or
    their media type says JSON and they do not start as XML does (a mislabelled RSS feed)."""
    first = _head(body)
    if first in (b"{", b"["):
        return True
    said_json = bool(content_type) and any(t in content_type.lower() for t in _JSON_TYPES)
    return said_json and first != b"<"


def looks_like_json_feed(body: bytes, content_type: str | None) -> bool:
    """Whether a captured body is plausibly a JSON Feed (to keep it from an archive): served
    as `application/feed+json`, or a JSON object naming a JSON Feed version anywhere."""
    if content_type and "feed+json" in content_type.lower():
        return True
    return _head(body) == b"{" and _VERSION_BYTES.search(body) is not None


def parse_json_feed(body: bytes, captured_at: datetime | None = None) -> ParsedFeed:
    """Parse a JSON Feed document; ParseError when it is not JSON or not a JSON Feed.

    Dates and sizes follow the rules of every feed format (tracker.reader.dates, tracker.reader.feedtext)."""
    document = _decode(body)
    if not isinstance(document, dict):
        raise ParseError("not a feed (JSON, but not a JSON Feed: not an object)")
    version = document.get("version")
    if not isinstance(version, str) or not _VERSION.match(version.strip()):
        raise ParseError("not a feed (JSON, but not a JSON Feed: no https://jsonfeed.org/version/1 or /1.1 version)")
    items = document.get("items")
    if not isinstance(items, list):
        raise ParseError("not a feed (JSON Feed without an items list)")
    feed_authors = _authors(document)
    entries: list[ParsedEntry] = []
    skipped = 0
    for item in items:
        entry = _entry(item, feed_authors, captured_at) if isinstance(item, dict) else None
        if entry is None:
            skipped += 1
        else:
            entries.append(entry)
    warning = f"{skipped} JSON Feed item(s) skipped: not an object, or no id, url or content" if skipped else None
    return ParsedFeed(
        title=text_value(_string(document.get("title")), False) or None,
        site_url=clean_opt(_string(document.get("home_page_url"))),
        entries=tuple(entries),
        warning=warning,
    )


def _decode(body: bytes) -> Any:
    if len(body) > MAX_JSON_FEED_BYTES:
        raise ParseError(f"JSON Feed of {len(body) // 2**20} MiB: over {MAX_JSON_FEED_BYTES // 2**20} MiB, not read")
    try:
        text = body.decode(json.detect_encoding(body), "replace").removeprefix("\ufeff")
        # Numbers stay text: nothing here is arithmetic, and int() of a huge one is slow or refused.
        return json.loads(text, parse_int=str, parse_float=str, parse_constant=str)
    except json.JSONDecodeError as error:
        raise ParseError(f"not a feed (invalid JSON: {error})") from None
    except RecursionError:
        raise ParseError("not a feed (JSON nested too deeply)") from None
    except (ValueError, LookupError) as error:
        raise ParseError(f"not a feed (unreadable JSON: {error})") from None


def _string(value: object) -> str | None:
    """A JSON string (or a number kept as text); None for objects, lists, booleans, null."""
    return value if isinstance(value, str) else None


def _authors(holder: dict[str, Any]) -> str | None:
    """Names of 1.1's `authors` list, else 1.0's `author` object, joined; at most FIELD_MAX
    characters, as any one-line field (a list of thousands of names is no byline)."""
    found = holder.get("authors")
    people = found if isinstance(found, list) else [holder.get("author")]
    names: list[str] = []
    length = 0
    for person in people:
        name = clean_opt(_string(person.get("name"))) if isinstance(person, dict) else None
        if name:
            names.append(name)
            length += len(name) + 2
            if length >= FIELD_MAX:
                break
    return ", ".join(names)[:FIELD_MAX] or None


def _when(item: dict[str, Any], captured_at: datetime | None) -> tuple[datetime | None, str | None]:
    """The claimed date (date_published, else date_modified) by the rule every feed's dates
    follow (tracker.reader.dates), or None and why the first date given claims nothing."""
    return first_claim((_string(item.get(key)) for key in ("date_published", "date_modified")), captured_at)


def _entry(item: dict[str, Any], feed_authors: str | None, captured_at: datetime | None) -> ParsedEntry | None:
    content_html = _string(item.get("content_html")) or ""
    content_text = _string(item.get("content_text")) or ""
    summary = clean((_string(item.get("summary")) or "")[:ENTRY_MARKUP_MAX])
    # The fuller body wins, as in RSS; a plain-text summary is escaped, since summaries are read as HTML.
    served = max(len(content_html), len(content_text), len(summary))
    if content_html and len(content_html) >= len(content_text):
        content, is_html = clean(content_html[:ENTRY_MARKUP_MAX]), True
    elif content_text:
        content, is_html = clean(content_text[:ENTRY_MARKUP_MAX]), False
    else:
        content, is_html, summary = summary, False, ""
    summary = summary[:ENTRY_MARKUP_MAX]
    guid = clean_opt(_string(item.get("id")))
    link = clean_opt(_string(item.get("url")))
    if not (guid or link or content):
        return None
    external = clean_opt(_string(item.get("external_url")))
    # A linkblog's external_url names the page the item is about: as Atom's rel="via".
    credits = (Attribution("via_link", None, external),) if external and external != link else ()
    claimed_at, rejected = _when(item, captured_at)
    return ParsedEntry(
        guid=guid,
        link=link,
        title=text_value(_string(item.get("title")), False),
        author=_authors(item) or feed_authors,
        claimed_at=claimed_at,
        content=content,
        content_is_html=is_html,
        summary=html.escape(summary, quote=False) if summary and summary != content else "",
        attributions=credits,
        claimed_rejected=rejected,
        content_chars=served,
    )
