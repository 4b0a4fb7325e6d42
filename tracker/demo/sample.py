"""The sample archive: the demo network's whole run as a WARC file, for the quick start.

`tracker demo --write-sample FILE` writes it; `samples/demo-network.warc.gz` in the
repository is that file. Each publisher of the demo stands on a host of its own under
`.example` (a domain reserved for examples, so no real site is implied), and every feed
is captured once a step, a few minutes after the step's articles claim to be published,
as a crawler polling every ten minutes would have seen it. The article page of each item
of the summary-only feed (the Hindu Kush Herald's) is captured after that step's feeds,
as a crawler following that feed's links would have archived it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from tracker.demo.network import BASE_TIME, SIMULATED_STEP, DemoResponse, article_pages, snapshots
from tracker.reader.archive import Served, write_warc_file

# The demo network's path prefixes, each on a host of its own.
HOSTS = {
    "/khaama/": "https://khaama-press.example/",
    "/ru24/": "https://ru24.example/",
    "/digest/": "https://headline-digest.example/",
    "/mirrors/": "https://mirror-of-mirrors.example/",
    "/market/": "https://kabul-market-watch.example/",
    "/herald/": "https://hindukush-herald.example/",
    "/newshub/": "https://newshub24.example/",
}
# A feed is captured this long after its step begins, one feed a minute after the other.
FIRST_CAPTURE = timedelta(minutes=3)
BETWEEN_FEEDS = timedelta(minutes=1)


def place(path: str) -> str:
    """The sample's URL for a path of the demo network ("/ru24/rss" → "https://ru24.example/rss")."""
    for prefix, site in HOSTS.items():
        if path.startswith(prefix):
            return site + path.removeprefix(prefix)
    raise ValueError(f"no host for demo path {path!r}")


@dataclass(frozen=True)
class SampleSummary:
    """What the sample holds."""

    feeds: int
    pages: int
    responses: int
    revisits: int


def _served(url: str, when: datetime, reply: DemoResponse) -> Served:
    headers = [("Content-Type", reply.content_type)]
    if reply.etag:
        headers.append(("ETag", reply.etag))
    if reply.last_modified:
        headers.append(("Last-Modified", format_datetime(reply.last_modified, usegmt=True)))
    return Served(url, when, tuple(headers), reply.body)


def _step_start(step: int) -> datetime:
    return (BASE_TIME + step * SIMULATED_STEP + FIRST_CAPTURE).replace(tzinfo=None)


def sample_captures() -> list[Served]:
    """Every capture of the sample, in capture order."""
    served = []
    by_step: dict[int, int] = {}
    for snap in snapshots(place, BASE_TIME, SIMULATED_STEP):
        position = by_step.get(snap.step, 0)
        by_step[snap.step] = position + 1
        served.append(_served(snap.url, _step_start(snap.step) + position * BETWEEN_FEEDS, snap.response))
    for page in article_pages(place, BASE_TIME, SIMULATED_STEP):
        # After the step's last feed capture: the crawler follows the link it has just read.
        served.append(_served(page.url, _step_start(page.step) + by_step[page.step] * BETWEEN_FEEDS, page.response))
    return sorted(served, key=lambda capture: capture.when)


def write_sample_archive(path: Path) -> SampleSummary:
    """Write the sample archive to `path` (gzipped when the name ends in .gz)."""
    captures = sample_captures()
    responses, revisits = write_warc_file(path, captures)
    pages = {page.url for page in article_pages(place)}
    return SampleSummary(len({c.url for c in captures} - pages), len(pages), responses, revisits)
