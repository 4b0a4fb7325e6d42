"""Does fetching article pages delay feed polling? Poll latency with 0 % vs 20 % hanging pages.

    python bench/pagefetch_bench.py [--feeds 30] [--seconds 45] [--hang 0.2]

Runs the daemon in this process against `bench/pagefarm.py` (summary-only feeds on
127.0.0.1; each new item's page is fetched by the daemon's page workers), once with every
page answering and once with a share of them hanging until the fetch's total timeout
(a quarter of the run), after a first run without page fetching as the baseline. A
publisher adds an item to a random feed every `--every` s. Prints per run:
polls done, poll latency (fetch + store, including any wait for the pipeline's lock)
p50/p95/max, the discovery lag of new items (published → stored), and page outcomes.
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pagefarm import PageFarm, PageFarmConfig  # noqa: E402

from tracker.config import parse_config  # noqa: E402
from tracker.daemon.poll import Poller  # noqa: E402
from tracker.daemon.scheduler import Daemon  # noqa: E402

_LATENCIES: list[float] = []
_original_poll = Poller.poll


def _timed_poll(self: Poller, feed):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    try:
        return _original_poll(self, feed)
    finally:
        _LATENCIES.append(time.perf_counter() - started)


Poller.poll = _timed_poll  # type: ignore[method-assign]


def _naive(value: datetime | str) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value  # SQLite's text


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def run(feeds: int, seconds: float, hang: float | None, every: float, timeout: float) -> dict[str, object]:
    """One run of the daemon; `hang` None: pages not fetched at all (the baseline)."""
    # Every feed's pages on a site of their own: hanging pages tie up the page workers, not one host's turn.
    farm = PageFarm(PageFarmConfig(feeds=feeds, items=2, mix={"hanging": hang or 0.0}, seed=14, sites=feeds)).start()
    scratch = Path(tempfile.mkdtemp(prefix="tracker-pagebench-"))
    url = f"sqlite:///{scratch / 'tracker.sqlite3'}"
    config = parse_config({
        "database": {"url": url},
        "feeds": [{"url": u, "publisher": f"Farm {n}"} for n, u in enumerate(farm.feed_urls())],
        "polling": {"dispatch_seconds": 0.5, "default_interval_seconds": 2, "min_interval_seconds": 2, "max_interval_seconds": 2,
                    "workers": 8, "per_host": 16, "total_timeout": timeout, "read_timeout": timeout, "allow_private_addresses": True},
        "pages": {"fetch": hang is not None, "host_delay_seconds": 1.0, "refill_seconds": 1.0, "revisit_hours": 0},
    })
    outcomes: Counter[str] = Counter()
    published: dict[str, datetime] = {}
    daemon = Daemon(config)
    daemon.on_page = lambda o: outcomes.update([o.outcome])  # type: ignore[assignment]
    stop = threading.Event()

    def publish() -> None:
        rng = random.Random(5)
        while not stop.wait(every):
            feed = rng.randrange(feeds)
            farm.publish(feed)
            n = farm.published[feed] - 1
            published[farm.page_url(feed, n)] = datetime.now(UTC).replace(tzinfo=None)

    _LATENCIES.clear()
    daemon.start()
    time.sleep(3.0)  # the first polls store the initial items
    warm = len(_LATENCIES)
    publisher = threading.Thread(target=publish, daemon=True)
    publisher.start()
    time.sleep(seconds)
    stop.set()
    publisher.join()
    time.sleep(6.0)  # the last items are polled
    latencies = _LATENCIES[warm:]
    daemon.shutdown()
    farm.close()
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        stored = {r.url: _naive(r.first_seen_at) for r in conn.execute(sa.text("SELECT url, first_seen_at FROM items"))}
    engine.dispose()
    lags = [(stored[u] - when).total_seconds() for u, when in published.items() if u in stored]
    return {"polls": len(latencies), "latencies": latencies, "lags": lags, "published": len(published),
            "stored": sum(1 for u in published if u in stored), "pages": outcomes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feeds", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=45.0)
    parser.add_argument("--hang", type=float, default=0.2, help="share of pages that hang")
    parser.add_argument("--every", type=float, default=0.5, help="seconds between two new items")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the figures, not the daemon's log
    timeout = max(2.0, args.seconds / 4)
    print(f"{args.feeds} summary-only feeds polled every 2 s, a new item every {args.every:g} s for {args.seconds:g} s; "
          f"hanging pages cut after {timeout:g} s")
    for hang in (None, 0.0, args.hang):
        result = run(args.feeds, args.seconds, hang, args.every, timeout)
        lat, lags = result["latencies"], result["lags"]
        pages = ", ".join(f"{n} {k}" for k, n in sorted(result["pages"].items()))  # type: ignore[union-attr]
        label = "pages not fetched" if hang is None else f"{hang:.0%} hanging pages"
        print(f"\n{label}: {result['polls']} polls; poll latency (fetch + store) "
              f"p50 {percentile(lat, 0.5) * 1000:.0f} ms, p95 {percentile(lat, 0.95) * 1000:.0f} ms, "  # type: ignore[arg-type]
              f"max {max(lat) * 1000:.0f} ms")  # type: ignore[type-var]
        print(f"  items published {result['published']}, stored {result['stored']}; discovery lag "
              f"median {statistics.median(lags):.2f} s, p95 {percentile(lags, 0.95):.2f} s, max {max(lags):.2f} s")  # type: ignore[arg-type]
        print(f"  pages: {pages or 'none'}")


if __name__ == "__main__":
    main()
