"""Article pages of the demo network as a news site serves them: the article inside chrome.

A summary-only publisher's feed gives a sentence; the article is on its page, between a
navigation bar, a "most read" box, share links and a footer — what the tracker's extractor
must leave out, and what a scraper mirror leaves out when it republishes the text.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape

# Headlines of the site's "most read" box: other stories of the (fictional) site.
MOST_READ = (
    "Snow Closes Salang Pass for Second Day",
    "Kabul Bakers Protest Rising Flour Prices",
    "New Bus Line Links Kandahar Airport to City Centre",
    "Teachers in Helmand Receive Delayed Salaries",
)
SECTIONS = ("Home", "Afghanistan", "Business", "Region", "Sport", "Opinion")


def article_page(
    *, site: str, site_name: str, url: str, title: str, standfirst: str, paragraphs: Sequence[str], published: datetime,
    author: str,
) -> str:
    """The HTML of one article page on `site` (the site's root URL, ending in "/")."""
    nav = "".join(f'<li><a href="{escape(site)}{escape(s.lower())}/">{escape(s)}</a></li>' for s in SECTIONS)
    most_read = "".join(
        f'<li><a href="{escape(site)}news/{n}/">{escape(headline)}</a></li>' for n, headline in enumerate(MOST_READ, 4101)
    )
    body = "".join(f"<p>{escape(p)}</p>\n" for p in paragraphs)
    when = published.isoformat()
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">\n'
        f"<title>{escape(title)} | {escape(site_name)}</title>\n"
        f'<link rel="canonical" href="{escape(url)}">\n'
        f'<meta property="og:site_name" content="{escape(site_name)}">\n'
        f'<meta property="og:title" content="{escape(title)}">\n'
        f'<meta name="description" content="{escape(standfirst)}">\n'
        f'<meta property="article:published_time" content="{when}">\n'
        "</head>\n<body>\n"
        f'<header class="site-header"><a class="logo" href="{escape(site)}">{escape(site_name)}</a>\n'
        f'<nav class="main-menu"><ul>{nav}</ul></nav>\n'
        '<form class="search" action="search/"><input name="q" placeholder="Search"></form></header>\n'
        '<main>\n<article class="post">\n'
        f'<h1 class="entry-title">{escape(title)}</h1>\n'
        f'<p class="byline">By {escape(author)} · <time datetime="{when}">{published:%d %B %Y}</time></p>\n'
        f'<div class="entry-content">\n{body}</div>\n'
        '<div class="share">Share: <a href="#">Facebook</a> <a href="#">X</a> <a href="#">WhatsApp</a></div>\n'
        "</article>\n"
        f'<aside class="most-read"><h2>Most read</h2><ul>{most_read}</ul></aside>\n'
        "</main>\n"
        f'<footer class="site-footer"><p>© {published:%Y} {escape(site_name)}. All rights reserved.</p>\n'
        f'<p><a href="{escape(site)}about/">About us</a> · <a href="{escape(site)}contact/">Contact</a> · '
        f'<a href="{escape(site)}privacy/">Privacy policy</a></p></footer>\n'
        "</body></html>\n"
    )
