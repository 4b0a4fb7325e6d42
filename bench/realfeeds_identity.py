"""Check: on real feeds, every distinct entry is one stored item — nothing lost, nothing merged.

    python bench/realfeeds_identity.py [--feeds ../shared/realfeeds] [--twice]

Ingests every feed file of a folder as a feed of its own (one capture each; `--twice`
ingests each file a second time, a minute later, to show nothing is doubled) into a
throw-away SQLite database, and compares, per file, the items stored with the distinct
entries the file holds — by GUID, else by link + title + text. Prints one row per file
that disagrees and a total line.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tracker.config import parse_config  # noqa: E402
from tracker.errors import ParseError  # noqa: E402
from tracker.model import Capture  # noqa: E402
from tracker.reader.parse import parse_feed  # noqa: E402
from tracker.pipeline.capture import Pipeline  # noqa: E402
from tracker.store import schema  # noqa: E402
from tracker.store.database import open_database  # noqa: E402


def distinct_entries(body: bytes) -> int | None:
    """Distinct entries of a feed document by GUID, else link + title + text; None if not a feed."""
    try:
        feed = parse_feed(body)
    except ParseError:
        return None
    return len({e.guid or (e.link, e.title, e.content, e.summary) for e in feed.entries})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feeds", type=Path, default=ROOT.parent / "shared" / "realfeeds")
    parser.add_argument("--twice", action="store_true", help="ingest every file twice")
    args = parser.parse_args()
    files = sorted(p for p in args.feeds.iterdir() if p.is_file() and p.suffix in (".xml", ".rss", ".atom", ".rdf", ".jsonc"))
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/realfeeds.sqlite3"
        sessions = open_database(url)
        pipeline = Pipeline(sessions, parse_config({"database": {"url": url}}))
        when = datetime(2026, 1, 1)
        expected_total = stored_total = files_checked = 0
        for n, path in enumerate(files):
            body = path.read_bytes()
            expected = distinct_entries(body)
            if expected is None:
                print(f"{path.name}: not a feed (skipped)")
                continue
            feed_url = f"https://realfeeds.invalid/{n}/{path.name}"
            for round_ in range(2 if args.twice else 1):
                pipeline.process(Capture(feed_url, when + timedelta(minutes=n, seconds=round_ * 30), "file", body, str(path)))
            with sessions() as session:
                feed_id = session.scalar(select(schema.Feed.id).where(schema.Feed.url == feed_url))
                stored = session.scalar(select(func.count()).select_from(schema.ItemFeed).where(schema.ItemFeed.feed_id == feed_id))
            files_checked += 1
            expected_total += expected
            stored_total += stored or 0
            if stored != expected:
                print(f"{path.name}: {expected} distinct entries, {stored} items stored")
        print(f"{files_checked} feed files: {expected_total} distinct entries, {stored_total} items stored"
              f" ({'equal' if expected_total == stored_total else 'DIFFERENT'})")


if __name__ == "__main__":
    main()
