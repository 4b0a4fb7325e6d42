"""Soak benchmark: the daemon polls a farm of local feeds with faults injected.

    python bench/soak.py [--feeds 300] [--minutes 5] [--fault-rate 0.15]

Starts `bench/feedfarm.py`'s feeds on 127.0.0.1, runs `tracker run` against them on a
scratch SQLite database, stops the farm publishing a minute before the end so the
daemon can catch up, sends SIGTERM, and prints: polls done, errors by kind, the share
of polls answered 304, items expected vs stored (none lost, none doubled), copies
found, and the daemon's resident memory early in the run and at its end.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from feedfarm import FarmConfig, FeedFarm  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def rss_mib(pid: int) -> float:
    """Resident memory of a process, MiB (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feeds", type=int, default=300)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--fault-rate", type=float, default=0.15)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--rate", type=float, default=0.5, help="items per feed per minute")
    args = parser.parse_args()

    duration = args.minutes * 60
    catch_up = min(60.0, duration / 3)
    started = time.monotonic()
    publish_until = started + duration - catch_up
    farm = FeedFarm(
        FarmConfig(feeds=args.feeds, fault_rate=args.fault_rate, items_per_feed_per_minute=args.rate, slow_seconds=2.0),
        clock=lambda: min(time.monotonic(), publish_until),
    )
    base = farm.start()
    scratch = Path(tempfile.mkdtemp(prefix="tracker-soak-"))
    db = scratch / "soak.sqlite3"
    lines = [f'[database]\nurl = "sqlite:///{db}"\n',
             "[polling]", "allow_private_addresses = true",  # the farm serves on 127.0.0.1
             f"workers = {args.workers}", f"per_host = {args.workers}",  # every farm feed is on one host
             "dispatch_seconds = 0.5", "default_interval_seconds = 5", "min_interval_seconds = 5",
             "max_interval_seconds = 20", "error_backoff_seconds = 3", "max_backoff_seconds = 20",
             "connect_timeout = 2.0", "read_timeout = 2.0", "total_timeout = 4.0", "max_body_bytes = 2097152", ""]
    for n, url in enumerate(farm.feed_urls()):
        lines += ["[[feeds]]", f'url = "{url}"', f'publisher = "Farm {n}"', ""]
    config = scratch / "soak.toml"
    config.write_text("\n".join(lines))
    log = (scratch / "daemon.log").open("w")
    daemon = subprocess.Popen(
        [sys.executable, "-m", "tracker", "--config", str(config), "run", "--log-format", "json"],
        cwd=ROOT, stderr=log, stdout=subprocess.DEVNULL,
    )
    print(f"soak: {args.feeds} feeds on {base}, fault rate {args.fault_rate}, {args.minutes} min; scratch {scratch}", flush=True)
    samples: list[tuple[float, float]] = []
    while time.monotonic() - started < duration:
        time.sleep(5)
        samples.append((time.monotonic() - started, rss_mib(daemon.pid)))
        if daemon.poll() is not None:
            sys.exit(f"daemon died with {daemon.returncode}; see {scratch / 'daemon.log'}")
    daemon.send_signal(signal.SIGTERM)
    code = daemon.wait(timeout=60)
    farm.stop()

    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        polls = conn.execute(sa.text("SELECT COUNT(*) FROM captures")).scalar_one()
        not_modified = conn.execute(sa.text("SELECT COUNT(*) FROM captures WHERE kind = 'revisit'")).scalar_one()
        errors = Counter(dict(conn.execute(sa.text("SELECT error_kind, COUNT(*) FROM captures WHERE error_kind IS NOT NULL GROUP BY error_kind")).all()))
        stored = conn.execute(sa.text("SELECT f.url, i.identity FROM items i JOIN item_feeds x ON x.item_id = i.id JOIN feeds f ON f.id = x.feed_id")).all()
        copies = conn.execute(sa.text("SELECT COUNT(*) FROM republications")).scalar_one()
    stored_by_feed: dict[str, Counter[str]] = {}
    for url, identity in stored:
        stored_by_feed.setdefault(url, Counter())[identity.removeprefix("guid:")] += 1
    listed, published = farm.listed_items(), farm.published_items()
    expected = sum(len(v) for v in listed.values())
    lost = sum(len(guids - set(stored_by_feed.get(url, {}))) for url, guids in listed.items())
    doubled = sum(n - 1 for c in stored_by_feed.values() for n in c.values() if n > 1)
    invented = sum(len(set(c) - published.get(url, set())) for url, c in stored_by_feed.items())
    early = [m for t, m in samples if t <= 60] or [samples[0][1]]
    late = [m for t, m in samples if t >= duration - 60] or [samples[-1][1]]
    print()
    print(f"daemon exit code on SIGTERM: {code}")
    print(f"polls done: {polls}  ({polls / (duration / 60):.0f}/min), answered 304: {not_modified / max(polls, 1):.1%}")
    print("errors by kind: " + (", ".join(f"{k} {v}" for k, v in errors.most_common()) or "none"))
    print(f"farm served: {farm.stats()}")
    print(f"items expected (served at least once): {expected}, stored: {sum(sum(c.values()) for c in stored_by_feed.values())}, "
          f"lost: {lost}, doubled: {doubled}, not published: {invented}")
    print(f"republications found: {copies} (farm made {len(farm.copies())})")
    print(f"daemon RSS: first minute peak {max(early):.0f} MiB, last minute peak {max(late):.0f} MiB, overall peak {max(m for _, m in samples):.0f} MiB")


if __name__ == "__main__":
    main()
