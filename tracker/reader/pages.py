"""Page stage: an article page's bytes → the article (text, title, date, canonical link).

Most large publishers' feeds carry a headline and a sentence; the article is on the linked
page, and mirrors publish the page's text. This stage reads such a page: the bytes are
decoded (charset from the HTTP header, else the document's `<meta>`, else UTF-8, else
detected), the article is told from the site's chrome (navigation, cookie banners,
related links) by trafilatura, and the canonical link is read and checked.

trafilatura lives here alone. Whether a feed's entry needs its page at all is
`needs_page` (before fetching) and `use_page` (once the article is known).
"""

from __future__ import annotations

import codecs
import ipaddress
import json
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urljoin, urlsplit

from lxml.etree import ParserError
from lxml.html import document_fromstring

from tracker.addresses import address_problem
from tracker.errors import PageError
from tracker.reader.dates import claimed_date
from tracker.reader.feedtext import ATTRIBUTES_MAX, crowded_element

# Larger pages are refused unread: a news article is 50-500 kB of HTML; a page of many
# megabytes is a feed of comments, an archive, or hostile. The fetcher stops reading here.
MAX_PAGE_BYTES = 5 * 1024 * 1024
# …and pages of more elements: an article page holds 100-8,000 (a long comment thread
# more); extraction of 24,000 paragraphs, divs or list items measured 1-2 s of CPU.
MAX_PAGE_ELEMENTS = 25_000
# The article text kept (characters): a long read is ~60 kB; past this it is cut at a paragraph.
MAX_ARTICLE_CHARS = 200_000
_HTML_TYPES = ("text/html", "application/xhtml+xml")
# A JSON-LD articleBody replaces the extracted text when it has at least this many words
# and half as many again as the text (a script-rendered page shows little but chrome).
_STRUCTURED_MIN_WORDS = 50
# What a page without a Content-Type starts with when it is not HTML.
_BINARY_STARTS = (b"%PDF", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"PK\x03\x04", b"RIFF", b"\x1f\x8b", b"OggS", b"ID3")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]+)""", re.IGNORECASE)
_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?([a-zA-Z0-9_.:-]+)", re.IGNORECASE)
_LOCAL_NAMES = ("localhost", ".localhost", ".local", ".internal", ".lan", ".home.arpa")

PageSetting = Literal["auto", "always", "never"]
# "auto" fetches the page of a feed text under this many words (summary feeds carry 10-55,
# full-text feeds 70 and more: /work/shared/realfeeds), or one that ends cut short…
SUMMARY_MAX_WORDS = 120
_CUT_SHORT = re.compile(
    r"(?:…|\.\.\.|\[…\]|\[\.\.\.\]|\b(?:read|continue reading|read the full|more|weiterlesen|lire la suite|leer más|"
    r"leggi tutto|читать далее|lees verder)\W{0,20})\s*$",
    re.IGNORECASE,
)
# …and uses the page when its article is this much longer than the feed's text (a feed
# that carries the first paragraphs is as much a summary as one that carries a sentence).
PAGE_MIN_RATIO = 2.0
PAGE_MIN_EXTRA_WORDS = 40


@dataclass(frozen=True)
class Article:
    """What a page says: its article text (paragraphs a line), and what it says of itself.

    `date` is the page's published date, if it gives one in range (never used to date an
    item earlier than its feed sighting); `canonical_url` is the page's
    `<link rel="canonical">` (else `og:url`), absolute, http(s), not a private address.
    """

    url: str
    text: str
    title: str | None
    date: datetime | None
    canonical_url: str | None
    site_name: str | None

    @property
    def words(self) -> int:
        """The article's length in words."""
        return len(self.text.split())


def is_html(content_type: str | None, body: bytes) -> bool:
    """Whether a response is an HTML page: by its media type, else by its first bytes."""
    if content_type:
        media = content_type.split(";", 1)[0].strip().lower()
        return media in _HTML_TYPES
    head = body[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(_BINARY_STARTS) or b"\x00" in head:
        return False
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<!--")) or b"<html" in head


# Byte-order marks, longest first (UTF-32's begins as UTF-16's does).
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def decode(body: bytes, content_type: str | None) -> str:
    """A page's text: by its byte-order mark, else the charset its header names, else its
    `<meta>`'s, else UTF-8, else detected (the HTML standard's order: a BOM outranks a
    header, which servers get wrong)."""
    for mark, codec in _BOMS:
        if body.startswith(mark):
            return body.decode(codec, "replace")
    for source in (_HEADER_CHARSET.search(content_type or ""), _META_CHARSET.search(body[:4096])):
        if source is None:
            continue
        name = source.group(1)
        name = name.decode("ascii", "replace") if isinstance(name, bytes) else name
        try:
            codec = codecs.lookup(name).name
            # A page labelled latin-1 is written in windows-1252 (the HTML standard's rule).
            codec = "cp1252" if codec in ("latin-1", "iso8859-1", "ascii") else codec
            return body.decode(codec, "replace")
        except LookupError:
            continue  # unknown, or no text encoding at all (charset=zlib, base64, rot13): as if unnamed
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        from charset_normalizer import from_bytes

        best = from_bytes(body[:200_000]).best()
        return body.decode(best.encoding if best else "cp1252", "replace")


def public_link(href: str | None, base: str) -> str | None:
    """`href` made absolute against `base`, if it is an http(s) link to a public host."""
    if not href or not href.strip():
        return None
    try:
        url = urljoin(base, href.strip())
        parts = urlsplit(url)
        host = (parts.hostname or "").lower().rstrip(".")
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not host or host == "localhost" or host.endswith(_LOCAL_NAMES):
        return None
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return url
    return None if address_problem(address) else url


def _tree(markup: str):  # type: ignore[no-untyped-def]
    """The page's element tree, or None when lxml finds no document in it."""
    try:
        return document_fromstring(markup[:MAX_PAGE_BYTES])
    except (ParserError, ValueError):
        return None


def _declared(tree, url: str) -> tuple[str | None, str]:  # type: ignore[no-untyped-def]
    """What the page says of itself in its markup: its canonical link (`<link
    rel=canonical>`, else `og:url`), and the longest `articleBody` of its JSON-LD (a page
    rendered by script may carry the article there alone)."""
    if tree is None:
        return None, ""
    canonical = None
    for link in tree.iter("link"):
        if "canonical" in (link.get("rel") or "").lower().split():
            canonical = public_link(link.get("href"), url)
            break
    else:
        for meta in tree.iter("meta"):
            if (meta.get("property") or meta.get("name") or "").lower() == "og:url":
                canonical = public_link(meta.get("content"), url)
                break
    bodies: list[str] = []
    for script in tree.iter("script"):
        if (script.get("type") or "").strip().lower() == "application/ld+json" and script.text:
            try:
                _article_bodies(json.loads(script.text[:MAX_ARTICLE_CHARS * 4]), bodies, 0)
            except (ValueError, RecursionError):
                continue
    return canonical, max(bodies, key=len, default="")


def _article_bodies(node: object, found: list[str], depth: int) -> None:
    if depth > 8:
        return
    if isinstance(node, dict):
        body = node.get("articleBody")
        if isinstance(body, str):
            found.append(body)
        for value in node.values():
            if isinstance(value, (dict, list)):
                _article_bodies(value, found, depth + 1)
    elif isinstance(node, list):
        for value in node[:100]:
            _article_bodies(value, found, depth + 1)


def _date(value: str | None, fetched_at: datetime | None) -> datetime | None:
    """The page's date under the rules of every claimed date (tracker.reader.dates): an offset
    beyond ±14:00, a year before 1991 or a date after the fetch is no date."""
    when, _ = claimed_date(value, fetched_at or datetime.now(UTC).replace(tzinfo=None))
    return when


def _clean(text: str | None) -> str | None:
    """Text a database takes: no NUL characters, no lone surrogates (from `&#xD800;`)."""
    if text is None:
        return None
    return text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "") or None


def _capped(text: str) -> str:
    if len(text) <= MAX_ARTICLE_CHARS:
        return text
    cut = text.rfind("\n", 0, MAX_ARTICLE_CHARS)
    return text[: cut if cut > 0 else MAX_ARTICLE_CHARS]


def _extract(markup: str, url: str, **mode: bool):  # type: ignore[no-untyped-def]
    """trafilatura's extraction of the article and the page's metadata, in one mode."""
    from trafilatura import bare_extraction  # imported on the first page: most runs read none

    # Its complaints of a page ("empty HTML tree", at ERROR) are the page's failure, which
    # the tracker records and logs itself: not errors of the daemon.
    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)
    try:
        return bare_extraction(
            # Tables off: a table-layout page would come out as one line of navigation and text.
            markup, url=url, with_metadata=True, include_comments=False, include_tables=False, include_images=False,
            include_links=False,
            # The page's own metadata only: a year guessed from a URL or a © line is no date.
            date_extraction_params={"extensive_search": False, "original_date": True, "outputformat": "%Y-%m-%dT%H:%M:%S%z"},
            **mode,
        )
    except Exception as error:  # whatever a hostile document makes an HTML reader raise
        raise PageError("unreadable", f"{type(error).__name__}: {error}"[:300]) from None


def extract_article(body: bytes, url: str, content_type: str | None, fetched_at: datetime | None = None) -> Article | None:
    """The article of an HTML page, or None when the page holds no article text.

    `fetched_at` (naive UTC; else now): a page date after it is no date.

    Raises `PageError` for a page that is not read at all: over `MAX_PAGE_BYTES` or
    `MAX_PAGE_ELEMENTS`, an element of over `ATTRIBUTES_MAX` attributes, or not HTML (a PDF, an image). The text is capped at `MAX_ARTICLE_CHARS`.
    """
    if len(body) > MAX_PAGE_BYTES:
        raise PageError("too_large", f"page of {len(body):,} bytes (over {MAX_PAGE_BYTES:,})")
    if not is_html(content_type, body):
        raise PageError("not_html", f"not an HTML page ({content_type or 'unrecognised bytes'})")
    markup = decode(body, content_type)
    crowded = crowded_element(markup.encode("utf-8", "surrogatepass"))  # decoded: a UTF-16 page too
    if crowded is not None:
        raise PageError("too_large", f"an element of {crowded:,} attributes (over {ATTRIBUTES_MAX:,})")
    tree = _tree(markup)
    elements = sum(1 for _ in tree.iter()) if tree is not None else 0
    if elements > MAX_PAGE_ELEMENTS:
        # The extractor's work grows with the square of a page's elements: 200,000 short
        # paragraphs (3.5 MB) cost it three minutes of CPU.
        raise PageError("too_large", f"page of {elements:,} HTML elements (over {MAX_PAGE_ELEMENTS:,})")
    found = _extract(markup, url, favor_precision=True)
    if not getattr(found, "text", None):
        # A layout the precise pass finds nothing in (no <article>, text in bare <div>s): look wider.
        found = _extract(markup, url, favor_recall=True)
    canonical, structured = _declared(tree, url)
    raw = _clean(getattr(found, "text", None)) or ""
    if len(structured.split()) >= max(_STRUCTURED_MIN_WORDS, 1.5 * len(raw.split())):
        # The JSON-LD article is much fuller than what the markup shows: a page rendered by script.
        raw = _clean(structured) or ""
    text = _capped("\n".join(line.strip() for line in raw.splitlines() if line.strip()))
    if not text:
        return None
    return Article(
        url=url,
        text=text,
        title=_clean(getattr(found, "title", None)),
        date=_date(getattr(found, "date", None), fetched_at),
        canonical_url=canonical if canonical and canonical.isprintable() and len(canonical) <= 2000 else None,
        site_name=_clean(getattr(found, "sitename", None)),
    )


def needs_page(feed_text: str, setting: PageSetting = "auto") -> bool:
    """Whether an entry's page should be fetched, given its feed text and the feed's `pages`
    setting: always, never, or ("auto") when the feed text is short enough to be a summary
    or ends cut short ("…", "[...]", "Read more")."""
    if setting == "never":
        return False
    text = feed_text.strip()
    return setting == "always" or len(text.split()) < SUMMARY_MAX_WORDS or bool(_CUT_SHORT.search(text[-80:]))


def use_page(feed_words: int, article_words: int, setting: PageSetting = "auto") -> bool:
    """Whether a page's article stands for its item's text: always (when there is one), never,
    or ("auto") when the article is much longer than the feed's text (which is a summary)."""
    if setting == "never" or article_words == 0:
        return False
    if setting == "always":
        return True
    return article_words >= PAGE_MIN_RATIO * feed_words and article_words >= feed_words + PAGE_MIN_EXTRA_WORDS
