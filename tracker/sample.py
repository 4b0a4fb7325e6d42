"""The sample archive: the demo network's whole run as a WARC file, for the quick start.

`tracker demo --write-sample FILE` writes it; `samples/demo-network.warc.gz` in the
repository is that file. Each publisher of the demo stands on a host of its own under
`.example` (a domain reserved for examples, so no real site is implied), and every feed
is captured once a step, a few minutes after the step's articles claim to be published,
as a crawler polling every ten minutes would have seen it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from email.utils import format_datetime
from pathlib import Path

from tracker.archive import Served, write_warc_file
from tracker.demo_network import BASE_TIME, SIMULATED_STEP, snapshots

# The demo network's path prefixes, each on a host of its own.
HOSTS = {
    "/khaama/": "https://khaama-press.example/",
    "/ru24/": "https://ru24.example/",
    "/digest/": "https://headline-digest.example/",
    "/mirrors/": "https://mirror-of-mirrors.example/",
    "/market/": "https://kabul-market-watch.example/",
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
    responses: int
    revisits: int


def sample_captures() -> list[Served]:
    """Every capture of the sample, in capture order."""
    served = []
    by_step: dict[int, int] = {}
    for snap in snapshots(place, BASE_TIME, SIMULATED_STEP):
        position = by_step.get(snap.step, 0)
        by_step[snap.step] = position + 1
        when = (BASE_TIME + snap.step * SIMULATED_STEP + FIRST_CAPTURE + position * BETWEEN_FEEDS).replace(tzinfo=None)
        reply = snap.response
        headers = [("Content-Type", reply.content_type)]
        if reply.etag:
            headers.append(("ETag", reply.etag))
        if reply.last_modified:
            headers.append(("Last-Modified", format_datetime(reply.last_modified, usegmt=True)))
        served.append(Served(snap.url, when, tuple(headers), reply.body))
    return served


def write_sample_archive(path: Path) -> SampleSummary:
    """Write the sample archive to `path` (gzipped when the name ends in .gz)."""
    captures = sample_captures()
    responses, revisits = write_warc_file(path, captures)
    return SampleSummary(len({c.url for c in captures}), responses, revisits)
