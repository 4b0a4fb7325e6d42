"""`tracker demo`: the daemon against a simulated syndication network, on this machine only.

Khaama Press publishes; a ru24.pro-style mirror copies it with its own header lines; an
aggregator excerpts it; a mirror copies the mirror. The demo serves that network on
127.0.0.1, runs the real daemon against it on a throw-away SQLite database, and prints
each republication as it is discovered, then the chains it found.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from tracker.config import parse_config
from tracker.demo_network import DemoNetwork
from tracker.logs import configure
from tracker.poll import PollOutcome
from tracker.queries import origin_report
from tracker.scheduler import Daemon
from tracker.store.database import open_database

_COPY_ROW = text(
    "SELECT copy_publisher, parent_publisher, relation, similarity, containment, lag_seconds, c.title AS title, r.evidence AS evidence "
    "FROM republications r JOIN items c ON c.id = r.copy_item_id WHERE copy_item_id = :item"
)


def _measure(row: Mapping[str, Any]) -> str:
    """An excerpt is told by how much of it the parent holds, a copy by its resemblance."""
    if row["relation"] == "excerpt":
        return f"excerpt, {row['containment']:.0%} of it is in the parent"
    return f"{row['relation']}, similarity {row['similarity']:.2f}"


def run_demo(seconds_per_step: float = 8.0, echo: Callable[[str], None] = print, keep: Path | None = None) -> int:
    """Run the demo to its end (or Ctrl-C); return how many republications were found."""
    configure("text", "warning")
    workdir = Path(tempfile.mkdtemp(prefix="tracker-demo-"))
    database = (keep or workdir / "demo.sqlite3").resolve()
    # Claimed dates run on real time here, so that captures can confirm (or disprove) them.
    network = DemoNetwork(
        seconds_per_step=seconds_per_step,
        claimed_start=datetime.now(UTC).replace(microsecond=0),
        claimed_step=timedelta(seconds=seconds_per_step),
    )
    base = network.start()
    config = parse_config({
        "database": {"url": f"sqlite:///{database}"},
        "feeds": [{"url": feed.url, "publisher": feed.publisher} for feed in network.feeds],
        "polling": {
            "allow_private_addresses": True,  # the simulated network is served on 127.0.0.1
            "dispatch_seconds": 1.0, "default_interval_seconds": 2, "min_interval_seconds": 2,
            "max_interval_seconds": 4, "error_backoff_seconds": 2, "workers": 4,
        },
    })
    started = time.monotonic()
    found: list[int] = []
    lock = threading.Lock()
    sessions = open_database(config.database.url)

    def on_poll(outcome: PollOutcome) -> None:
        if not outcome.report.new_copies:
            return
        with lock, sessions() as session:
            for item_id in outcome.report.new_copies:
                row = session.execute(_COPY_ROW, {"item": item_id}).mappings().first()
                if row is None:
                    continue
                found.append(item_id)
                elapsed = int(time.monotonic() - started)
                lag = f"{row['lag_seconds']} s after it" if row["lag_seconds"] is not None else ""
                echo(
                    f"[{elapsed // 60:02d}:{elapsed % 60:02d}] {row['copy_publisher']} ← {row['parent_publisher']}: "
                    f"\u201c{row['title']}\u201d ({_measure(row)}, {lag})"
                )
                if "disproved" in (row["evidence"] or ""):
                    echo("        its feed claims it was published before the original; an earlier capture without it disproves that")

    daemon = Daemon(config, on_poll=on_poll)
    duration = network.steps * seconds_per_step + 10
    echo(f"tracker demo: a simulated syndication network on {base} ({len(network.feeds)} feeds)")
    echo(f"polling it every 2 s for about {int(duration)} s; database {database}")
    echo("Khaama Press publishes; ru24.pro mirrors it; Headline Digest excerpts it; Mirror of Mirrors copies ru24.pro.")
    echo("")
    try:
        daemon.start()
        deadline = time.monotonic() + duration
        while time.monotonic() < deadline:
            time.sleep(0.5)
    except KeyboardInterrupt:
        echo("interrupted")
    finally:
        daemon.shutdown()
        network.stop()
    echo("")
    if found:
        # The longest chain of the most copied story: Mirror of Mirrors ← ru24.pro ← Khaama Press.
        with sessions() as session:
            first = session.execute(text(
                "SELECT original_url FROM stories WHERE publisher = 'Khaama Press' ORDER BY copies DESC, published_at LIMIT 1"
            )).scalar()
            mirror_of_mirror = session.execute(text(
                "SELECT url FROM item_provenance WHERE publisher = 'Mirror of Mirrors' AND original_item_id = "
                "(SELECT item_id FROM item_provenance WHERE url = :u)"), {"u": first}).scalar() if first else None
        if first:
            echo(origin_report(sessions, mirror_of_mirror or first))
    echo("")
    echo(f"{len(found)} republication{'' if len(found) == 1 else 's'} found. Query the database yourself: sqlite3 {database} 'SELECT * FROM republications'")
    if keep is None and not found:
        shutil.rmtree(workdir, ignore_errors=True)  # nothing worth keeping
    return len(found)
