"""Small builders for the feeds, articles and WARC captures the tests ingest."""

from __future__ import annotations

import io
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import format_datetime
from html import escape
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from tracker.model import Capture

_WORDS = ["minister", "council", "border", "trade", "wheat", "harvest", "province", "school", "teachers", "road", "bridge", "river", "valley", "election", "court", "budget", "hospital", "doctors", "farmers", "market", "prices", "fuel", "electricity", "water", "village", "city", "officials", "police", "report", "agency", "talks", "delegation", "refugees", "returnees", "aid", "winter", "snow", "flood", "drought", "exports", "imports", "customs", "transit", "highway", "airport", "railway", "students", "university", "exam", "results", "clinic", "vaccine", "campaign", "security", "checkpoint", "district", "governor", "mayor", "assembly", "protest", "strike", "union", "wages", "investment", "company", "bank", "loan", "currency", "inflation", "growth", "forecast", "survey", "census", "mosque", "festival", "football", "cricket", "league", "season", "coach", "players", "stadium", "museum", "library", "archive", "festival", "film", "music"]


def article(seed: int, paragraphs: int = 5, words: int = 60) -> list[str]:
    """A made-up article: distinct, deterministic paragraphs of plausible words."""
    rng = random.Random(seed)
    out = []
    for _ in range(paragraphs):
        sentence_words = [rng.choice(_WORDS) for _ in range(words)]
        text = " ".join(sentence_words)
        out.append(text[0].upper() + text[1:] + ".")
    return out


def html(paragraphs: list[str]) -> str:
    """Paragraphs as HTML."""
    return "".join(f"<p>{escape(p)}</p>" for p in paragraphs)


@dataclass
class Item:
    """One RSS item to render."""

    title: str
    link: str
    paragraphs: list[str]
    published: datetime
    guid: str | None = None
    summary: str | None = None
    source: tuple[str, str] | None = None  # (feed url, name)
    extra_after: list[str] = field(default_factory=list)


def rss(title: str, site: str, items: list[Item], *, full_content: bool = True) -> bytes:
    """An RSS 2.0 document; full text in content:encoded (WordPress style) or in description."""
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">',
        f"<channel><title>{escape(title)}</title><link>{site}</link><description>{escape(title)}</description>",
    ]
    for item in items:
        body = html(item.paragraphs + item.extra_after)
        parts.append("<item>")
        parts.append(f"<title>{escape(item.title)}</title><link>{item.link}</link>")
        parts.append(f"<guid>{escape(item.guid or item.link)}</guid>")
        parts.append(f"<pubDate>{format_datetime(item.published.replace(tzinfo=__import__('datetime').timezone.utc))}</pubDate>")
        if item.source:
            parts.append(f'<source url="{item.source[0]}">{escape(item.source[1])}</source>')
        if full_content:
            summary = item.summary or html(item.paragraphs[:1])
            parts.append(f"<description><![CDATA[{summary}]]></description>")
            parts.append(f"<content:encoded><![CDATA[{body}]]></content:encoded>")
        else:
            parts.append(f"<description><![CDATA[{body}]]></description>")
        parts.append("</item>")
    parts.append("</channel></rss>")
    return "\n".join(parts).encode("utf-8")


def wordpress_footer(title: str, link: str, site: str, name: str) -> str:
    """Yoast's default RSS footer paragraph, as HTML."""
    return f'<p>The post <a href="{link}">{escape(title)}</a> appeared first on <a href="{site}">{escape(name)}</a>.</p>'


def capture(url: str, when: datetime, body: bytes) -> Capture:
    """A feed capture as ingest makes them."""
    return Capture(url, when, "response", body, f"test:{url}@{when.isoformat()}", "application/rss+xml")


def write_warc(path: Path, captures: list[Capture]) -> Path:
    """Write captures as WARC response records (revisits for body-less ones)."""
    with path.open("wb") as out:
        writer = WARCWriter(out, gzip=path.name.endswith(".gz"))
        for cap in captures:
            date = cap.captured_at.strftime("%Y-%m-%dT%H:%M:%SZ")
            if cap.body is None:
                record = writer.create_revisit_record(cap.feed_url, "sha1:AAAA", cap.feed_url, date)
                record.rec_headers.replace_header("WARC-Date", date)
            else:
                headers = StatusAndHeaders("200 OK", [("Content-Type", cap.content_type or "application/rss+xml")], protocol="HTTP/1.1")
                record = writer.create_warc_record(
                    cap.feed_url, "response", payload=io.BytesIO(cap.body), http_headers=headers,
                    warc_headers_dict={"WARC-Date": date},
                )
            writer.write_record(record)
    return path


T0 = datetime(2025, 1, 7, 9, 0, 0)


def hours(n: float) -> timedelta:
    """A timedelta of n hours."""
    return timedelta(hours=n)
