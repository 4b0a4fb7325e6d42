"""A small syndication network of several stories, built through the real pipeline, for the query commands."""

from __future__ import annotations

from pathlib import Path

from tests import templates
from tests.builders import T0, Item, article, capture, hours, rss
from tests.conftest import make_pipeline
from tests.pipeline.test_pipeline import (
    CHROME,
    DIGEST,
    FEEDS,
    KHAAMA,
    MIRRORS,
    RU24,
    khaama_item,
    mirror_item,
)
from tracker.model import Capture

TITLES = [
    "Torkham crossing reopens to trade",
    "Herat launches enrolment drive",
    "Кабул: новые школы открываются",
    "Wheat harvest forecast improves",
]
RU24_DELAY_HOURS = [2.0, 2.5, 3.0, 6.0]  # after Khaama's original
DIGEST_STORIES = {0, 2}  # excerpted by Headline Digest, 3 h after the original
MIRRORED_STORIES = {0, 1}  # copied from ru24.pro by Mirror of Mirrors, 5 h after the original


def story_url(k: int) -> str:
    return f"https://www.khaama.com/story-{k}/"


def mirror_url(k: int) -> str:
    return f"https://ru24.pro/{70000 + k}-story.html"


def captures(stories: int = 4) -> list[Capture]:
    """Khaama Press publishes a story every 12 hours; the others copy it as the module constants say."""
    out: list[Capture] = []
    for k in range(stories):
        start = T0 + hours(12 * k)
        paragraphs = article(700 + k, paragraphs=8)
        title = TITLES[k]
        chrome = [CHROME[0], CHROME[1], CHROME[2], CHROME[3], title, CHROME[5]]
        original = khaama_item(paragraphs, title=title, link=story_url(k), published=start)
        out.append(capture(KHAAMA, start + hours(0.25), rss("Khaama Press", "https://www.khaama.com/", [original])))
        mirror = mirror_item(paragraphs, title=title, link=mirror_url(k), published=start + hours(RU24_DELAY_HOURS[k]), chrome=chrome)
        out.append(capture(RU24, start + hours(RU24_DELAY_HOURS[k] + 0.25), rss("ru24.pro", "https://ru24.pro/", [mirror], full_content=False)))
        if k in DIGEST_STORIES:
            excerpt = Item(title, f"https://headlinedigest.example/{k}.html",
                           paragraphs[:1] + [f"Read the full story at Khaama Press: {story_url(k)}"], start + hours(3))
            out.append(capture(DIGEST, start + hours(3.25), rss("Headline Digest", "https://headlinedigest.example/", [excerpt], full_content=False)))
        if k in MIRRORED_STORIES:
            copy = Item(title, f"https://mirrorofmirrors.example/{k}.html", ["Reposted from around the web"] + mirror.paragraphs,
                        start + hours(5))
            out.append(capture(MIRRORS, start + hours(5.25), rss("Mirror of Mirrors", "https://mirrorofmirrors.example/", [copy], full_content=False)))
    return out


def build(url: str, stories: int = 4) -> None:
    """Ingest the network into the new database at `url` (a copy of the first one built: tests/templates.py)."""
    templates.built(url, ("story_network", stories), lambda into: _ingest(into, stories))


def _ingest(url: str, stories: int) -> None:
    report = make_pipeline(url, FEEDS).ingest(captures(stories))
    assert report.errors == 0


def config_file(path: Path, url: str, extra: str = "") -> Path:
    """A config naming the database and the network's feeds."""
    lines = ["[database]", f'url = "{url}"', ""]
    for feed in FEEDS:
        lines += ["[[feeds]]", f'url = "{feed["url"]}"', f'publisher = "{feed["publisher"]}"', ""]
    path.write_text("\n".join(lines) + extra)
    return path
