"""An entry's links made whole: a feed that writes `<link>/2024/story/</link>` (or an Atom
`xml:base` that is itself a path) means the page on the feed's own site.

Without this an item's URL is a bare path: its page cannot be fetched, `origin` cannot find
it by its address, and a mirror's credit naming its full URL names nobody. Links resolve
against the feed's URL with its userinfo taken off, so that a password in a subscription
never reaches an item's link.
"""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urljoin, urlsplit, urlunsplit

from tracker.model import Attribution, ParsedEntry, ParsedFeed

_WHOLE = ("http://", "https://")


def feed_base(feed_url: str) -> str | None:
    """The URL an entry's relative links are read against: the feed's, without its userinfo
    (None when the feed's URL is no web address, as an archive's `file:` or a test's label)."""
    try:
        parts = urlsplit(feed_url)
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))


def whole(link: str | None, base: str) -> str | None:
    """`link` read against `base`, when it is a path ("/a/1", "a/1", "//host/a"); a link
    with a scheme of its own (http, mailto, a tag: URI) is left as it is."""
    if not link or link.lower().startswith(_WHOLE) or urlsplit(link).scheme:
        return link
    try:
        return urljoin(base, link)
    except ValueError:
        return link


def whole_credits(credits: tuple[Attribution, ...], base: str | None) -> tuple[Attribution, ...]:
    """`credits` with their links written as paths read against `base` (the same tuple when
    none is, or when `base` is no whole web address to read them against)."""
    if not base or not base.lower().startswith(_WHOLE) or all(not a.url or a.url.lower().startswith(_WHOLE) for a in credits):
        return credits
    return tuple(replace(a, url=whole(a.url, base)) for a in credits)


def _entry(entry: ParsedEntry, base: str) -> ParsedEntry:
    link = whole(entry.link, base)
    credits = whole_credits(entry.attributions, base)
    if link is entry.link and credits is entry.attributions:
        return entry
    return replace(entry, link=link, attributions=credits)


def with_whole_links(parsed: ParsedFeed, feed_url: str) -> ParsedFeed:
    """`parsed` with its site link, its entries' links and the links of the credits its
    markup gives (`<source url>`) made whole against the feed's URL (`feed_base`); the same
    object when there is nothing to do. (Credits in an entry's body are read against the
    entry's link when its text is read, `whole_credits`.)"""
    base = feed_base(feed_url)
    if base is None:
        return parsed
    entries = tuple(_entry(e, base) for e in parsed.entries)
    site = whole(parsed.site_url, base)
    if site is parsed.site_url and all(new is old for new, old in zip(entries, parsed.entries)):
        return parsed
    return replace(parsed, site_url=site, entries=entries)
