"""A small world for the pictures: two stories, one with a backdated copy under a hostile title.

Story A (TITLE): Khaama Press publishes; ru24.pro mirrors it; Headline Digest excerpts
it; Mirror of Mirrors copies ru24.pro's copy.
Story B (EVIL_TITLE): Khaama Press publishes; ru24.pro copies it and its feed claims a
date five hours earlier, which an earlier capture of ru24.pro's feed disproves. The
title tries to run a script wherever it is shown unescaped.
"""

from __future__ import annotations

from tests import templates
from tests.builders import T0, Item, article, capture, hours, rss
from tests.conftest import make_pipeline
from tests.pipeline.test_pipeline import FEEDS, KHAAMA, MIRROR_URL, ORIGINAL_URL, RU24, khaama_item, network
from tracker.model import Capture

EVIL_TITLE = '<script>window.pwned=1</script><img src=x onerror="window.pwned=2">'
SECOND_URL = "https://www.khaama.com/second-story/"
BACKDATED_URL = "https://ru24.pro/2-backdated.html"
DIGEST_URL = "https://headlinedigest.example/1.html"
MIRROR_OF_MIRROR_URL = "https://mirrorofmirrors.example/9.html"
PUBLISHERS = ("Khaama Press", "ru24.pro", "Headline Digest", "Mirror of Mirrors")

__all__ = ["BACKDATED_URL", "DIGEST_URL", "EVIL_TITLE", "FEEDS", "MIRROR_OF_MIRROR_URL", "MIRROR_URL", "ORIGINAL_URL",
           "PUBLISHERS", "SECOND_URL", "build_world", "world_captures"]


def world_captures() -> list[Capture]:
    """The captures of both stories."""
    second = article(71, paragraphs=8)
    backdated = Item(EVIL_TITLE, BACKDATED_URL, second, T0 - hours(5))
    return network(article(70, paragraphs=8)) + [
        capture(RU24, T0 - hours(2), rss("ru24.pro", "https://ru24.pro/", [], full_content=False)),
        capture(KHAAMA, T0 + hours(0.2), rss("Khaama Press", "https://www.khaama.com/",
                                             [khaama_item(second, title=EVIL_TITLE, link=SECOND_URL)])),
        capture(RU24, T0 + hours(1), rss("ru24.pro", "https://ru24.pro/", [backdated], full_content=False)),
    ]


def build_world(url: str) -> None:
    """Ingest the world into the new database at `url` (a copy of the first one built: tests/templates.py)."""
    templates.built(url, "story_world", _ingest)


def _ingest(url: str) -> None:
    report = make_pipeline(url, FEEDS).ingest(world_captures())
    assert report.errors == 0 and report.republications == 4
