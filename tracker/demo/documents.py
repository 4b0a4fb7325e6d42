"""The documents of the `tracker demo` network: its feeds (RSS, Atom) and plain article pages.

What a feed or page says is a pure function of the entries given (tracker.demo.network
decides which, and when); a news site's article page with its chrome is tracker.demo.pages'.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from html import escape

# Turns a path of the network into an absolute URL (the local server's, or a sample's hosts).
Place = Callable[[str], str]


@dataclass(frozen=True)
class FeedSpec:
    """One feed of the network: where it is served, whose it is, RSS or Atom."""

    path: str
    publisher: str
    atom: bool
    site_path: str
    tagline: str
    creator: bool = False   # items name the publisher as dc:creator (WordPress does)


@dataclass(frozen=True)
class Entry:
    """One item as it appears in one feed, from `step` on."""

    feed_path: str
    step: int
    title: str
    link: str
    guid: str
    guid_is_permalink: bool
    published: datetime
    summary_html: str
    content_html: str = ""   # empty when the feed carries the text in the summary only
    page_html: str = ""      # the article page as the site serves it; empty: a plain page of the feed's text


def paragraphs_html(paragraphs: tuple[str, ...] | list[str]) -> str:
    """Each paragraph as an escaped <p>, one a line."""
    return "".join(f"<p>{escape(p)}</p>\n" for p in paragraphs)


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def rss(spec: FeedSpec, place: Place, entries: list[Entry], updated: datetime) -> str:
    """The RSS 2.0 document of `spec` listing `entries` (newest first, as given)."""
    items = []
    for e in entries:
        creator = f"<dc:creator>{_cdata(spec.publisher)}</dc:creator>\n" if spec.creator else ""
        content = f"<content:encoded>{_cdata(e.content_html)}</content:encoded>\n" if e.content_html else ""
        permalink = "true" if e.guid_is_permalink else "false"
        items.append(
            f"<item>\n<title>{escape(e.title)}</title>\n<link>{escape(e.link)}</link>\n{creator}"
            f"<pubDate>{format_datetime(e.published)}</pubDate>\n"
            f'<guid isPermaLink="{permalink}">{escape(e.guid)}</guid>\n'
            f"<description>{_cdata(e.summary_html)}</description>\n{content}</item>\n"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom">\n<channel>\n'
        f"<title>{escape(spec.publisher)}</title>\n"
        f'<atom:link href="{escape(place(spec.path))}" rel="self" type="application/rss+xml" />\n'
        f"<link>{escape(place(spec.site_path))}</link>\n<description>{escape(spec.tagline)}</description>\n"
        f"<lastBuildDate>{format_datetime(updated, usegmt=True)}</lastBuildDate>\n<language>en-US</language>\n"
        + "".join(items) + "</channel>\n</rss>\n"
    )


def atom(spec: FeedSpec, place: Place, entries: list[Entry], updated: datetime) -> str:
    """The Atom document of `spec` listing `entries` (newest first, as given)."""
    items = [
        f"<entry>\n<title type=\"text\">{escape(e.title)}</title>\n"
        f'<link rel="alternate" type="text/html" href="{escape(e.link)}"/>\n<id>{escape(e.guid)}</id>\n'
        f"<published>{e.published.isoformat()}</published>\n<updated>{e.published.isoformat()}</updated>\n"
        f'<summary type="html">{escape(e.summary_html)}</summary>\n</entry>\n'
        for e in entries
    ]
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">\n'
        f"<title>{escape(spec.publisher)}</title>\n<subtitle>{escape(spec.tagline)}</subtitle>\n"
        f'<link rel="self" type="application/atom+xml" href="{escape(place(spec.path))}"/>\n'
        f'<link rel="alternate" type="text/html" href="{escape(place(spec.site_path))}"/>\n'
        f"<id>{escape(place(spec.site_path))}</id>\n<updated>{updated.isoformat()}</updated>\n"
        f"<author><name>{escape(spec.publisher)}</name></author>\n" + "".join(items) + "</feed>\n"
    )


def page(entry: Entry) -> str:
    """The entry's page: the site's own (`page_html`), else a bare one holding the feed's text."""
    if entry.page_html:
        return entry.page_html
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(entry.title)}</title>'
        f"</head>\n<body><article><h1>{escape(entry.title)}</h1>\n"
        f"{entry.content_html or entry.summary_html}</article></body></html>\n"
    )
