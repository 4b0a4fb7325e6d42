"""A world written by an attacker: links that try to end an attribute, titles that are
spreadsheet formulas or carry a right-to-left override, a publisher named like a formula.

Khaama Press publishes; ru24.pro (whose feed names itself `@SUM(…)`) copies it.
"""

from __future__ import annotations

from typing import Any

from tests import templates
from tests.builders import T0, article, capture, hours, rss
from tests.pipeline.test_pipeline import KHAAMA, RU24, khaama_item, mirror_item
from tracker.config import Config, parse_config
from tracker.pipeline.capture import Pipeline
from tracker.store.database import open_database

# Ends the href attribute and adds a handler that runs on load, with no click.
ATTRIBUTE_LINK = 'http://a.example/q" onfocus="window.pwned=1" autofocus="x'
# Ends the attribute and the element (XML-escaped in the feed, as a feed would carry it).
ELEMENT_LINK = "http://b.example/&quot;&gt;&lt;script&gt;window.pwned=2&lt;/script&gt;"
FORMULA_TITLE = '=HYPERLINK("http://evil.example/","click")'
BIDI = "\u202e"
BIDI_TITLE = f"Invoice {BIDI}fdp.exe"
FORMULA_PUBLISHER = "@SUM(1+1)*cmd|' /C calc'!A0"
FEEDS = [{"url": KHAAMA, "publisher": "Khaama Press"}, {"url": RU24}]


def build_hostile_world(url: str, **sections: Any) -> Config:
    """Ingest the hostile world into the database at `url`; `sections` add to the config (alerts=[…])."""
    first, second = article(81, paragraphs=8), article(82, paragraphs=8)
    captures = [
        capture(KHAAMA, T0 + hours(0.5), rss("Khaama Press", "https://www.khaama.com/", [
            khaama_item(first, title=FORMULA_TITLE, link=ATTRIBUTE_LINK),
            khaama_item(second, title=BIDI_TITLE, link="https://www.khaama.com/second/", published=T0 + hours(0.2)),
        ])),
        capture(RU24, T0 + hours(2.5), rss(FORMULA_PUBLISHER, "https://ru24.pro/", [
            mirror_item(first, title=FORMULA_TITLE, link=ELEMENT_LINK),
            mirror_item(second, title=BIDI_TITLE, link="https://ru24.pro/2.html"),
        ], full_content=False)),
    ]
    config = parse_config({"database": {"url": url}, "feeds": FEEDS, **sections})

    def ingest(into: str) -> None:
        settings = parse_config({"database": {"url": into}, "feeds": FEEDS, **sections})
        report = Pipeline(open_database(into), settings).ingest(captures)
        assert report.errors == 0 and report.republications == 2, report

    if sections:  # alerts and the like act while ingesting: not the world of a copy
        ingest(url)
    else:
        templates.built(url, "hostile_world", ingest)
    return config
