"""`tracker demo`: the daemon against a simulated syndication network, on this machine only.

Khaama Press publishes; a ru24.pro-style mirror copies it with its own header lines; an
aggregator excerpts it; a mirror copies the mirror; a scraper republishes the article
page of a summary-only original (the Hindu Kush Herald). The demo serves that network on
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

from sqlalchemy.orm import Session, sessionmaker

from tracker.answers.output import delay
from tracker.answers.summaries import origin_report, page_note
from tracker.config import Config, parse_config
from tracker.daemon.scheduler import Daemon
from tracker.demo.network import HERALD, KHAAMA, MIRRORS, NEWSHUB, DemoNetwork
from tracker.logs import configure
from tracker.model import IngestReport
from tracker.store import views
from tracker.store.database import open_database


def _measure(row: Mapping[str, Any]) -> str:
    """An excerpt is told by how much of it the parent holds, a copy by its resemblance."""
    if row["relation"] == "excerpt":
        return f"excerpt, {row['containment']:.0%} of it is in the parent"
    return f"{row['relation']}, similarity {row['similarity']:.2f}"


def copy_lines(session: Session, item_ids: list[int]) -> list[tuple[str, list[str]]]:
    """What the demo prints for newly found copies, without the clock: for each, who copied
    whom and how, and the lines that explain it further."""
    rows = [r for r in views.items_by_id(session, item_ids) if r["parent_item_id"] is not None]
    parents = {r["item_id"]: r["publisher"] for r in views.items_by_id(session, [r["parent_item_id"] for r in rows])}
    disproved = views.disproved_claims(session, [r["item_id"] for r in rows])
    lines = []
    for row in sorted(rows, key=lambda r: item_ids.index(r["item_id"])):
        parent = parents.get(row["parent_item_id"], "?")
        notes = [_measure(row)]
        if row["lag_seconds"] is not None:
            notes.append(f"{delay(row['lag_seconds'])} it")
        if page := page_note(row["evidence"], parent):
            notes.append(page)
        more = ["its feed claims it was published before the original; an earlier capture without it disproves that"]
        lines.append((f"{row['publisher']} ← {parent}: \u201c{row['title']}\u201d ({', '.join(notes)})",
                      more if row["item_id"] in disproved else []))
    return lines


def _config(network: DemoNetwork, database: Path) -> Config:
    return parse_config({
        "database": {"url": f"sqlite:///{database}"},
        "feeds": [{"url": feed.url, "publisher": feed.publisher} for feed in network.feeds],
        "polling": {
            # The simulated network is served on 127.0.0.1; its article pages are fetched under the same rule.
            "allow_private_addresses": True,
            "dispatch_seconds": 1.0, "default_interval_seconds": 2, "min_interval_seconds": 2,
            "max_interval_seconds": 4, "error_backoff_seconds": 2, "workers": 4,
        },
        # Pages on the demo's time scale: due pages looked up every second, half a second
        # between two requests to the network's one host (a real site gets 5 s).
        "pages": {"fetch": True, "refill_seconds": 1.0, "host_delay_seconds": 0.5},
    })


def run_demo(seconds_per_step: float = 8.0, echo: Callable[[str], None] = print, keep: Path | None = None) -> int:
    """Run the demo to its end and return how many republications were found. On Ctrl-C it
    stops, still shows what was found, then raises KeyboardInterrupt (the CLI exits 130)."""
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
    config = _config(network, database)
    started = time.monotonic()
    found: list[int] = []
    lock = threading.Lock()
    sessions = open_database(config.database.url)

    def show(report: IngestReport | None) -> None:
        # Copies are found by polls, and by article pages (a summary-only original's page read).
        if report is None or not report.new_copies:
            return
        with lock, sessions() as session:
            elapsed = int(time.monotonic() - started)
            for line, more in copy_lines(session, report.new_copies):
                found.append(1)
                echo(f"[{elapsed // 60:02d}:{elapsed % 60:02d}] {line}")
                for note in more:
                    echo(f"        {note}")

    daemon = Daemon(config, on_poll=lambda outcome: show(outcome.report))
    daemon.on_page = lambda outcome: show(outcome.report)
    duration = network.steps * seconds_per_step + 10
    _introduce(echo, base, len(network.feeds), duration, database)
    interrupted = False
    try:
        daemon.start()
        deadline = time.monotonic() + duration
        while time.monotonic() < deadline:
            time.sleep(0.5)
    except KeyboardInterrupt:
        interrupted = True
        echo("interrupted")
    finally:
        daemon.shutdown()
        network.stop()
    _conclude(echo, sessions, len(found), database)
    if keep is None and not found:
        shutil.rmtree(workdir, ignore_errors=True)  # nothing worth keeping
    if interrupted:
        raise KeyboardInterrupt  # what was found is shown; the run itself did not finish
    return len(found)


def _introduce(echo: Callable[[str], None], base: str, feeds: int, duration: float, database: Path) -> None:
    echo(f"tracker demo: a simulated syndication network on {base} ({feeds} feeds)")
    echo(f"polling it every 2 s for about {int(duration)} s; database {database}")
    echo("Khaama Press publishes; ru24.pro mirrors it; Headline Digest excerpts it; Mirror of Mirrors copies ru24.pro.")
    echo("The Hindu Kush Herald's feed gives one sentence, its page the article; NewsHub24 scrapes the page.")
    echo("")


def _conclude(echo: Callable[[str], None], sessions: sessionmaker[Session], found: int, database: Path) -> None:
    echo("")
    if found:
        for url in _showcase(sessions):
            echo(origin_report(sessions, url))
            echo("")
    echo(f"{found} republication{'' if found == 1 else 's'} found. Query the database yourself: sqlite3 {database} '{views.REPUBLICATIONS_QUERY}'")


def _showcase(sessions: sessionmaker[Session]) -> list[str]:
    """The copies whose stories the demo ends with: the longest chain of Khaama Press's most
    copied story (Mirror of Mirrors ← ru24.pro ← Khaama Press), and NewsHub24's scrape of the
    Herald (the original else, when a copy was not found)."""
    urls = []
    with sessions() as session:
        for publisher, copier in ((KHAAMA, MIRRORS), (HERALD, NEWSHUB)):
            stories = sorted(views.stories(session, publisher=publisher), key=lambda s: (-s["copies"], s["published_at"]))
            if not stories:
                continue
            items = views.story_items(session, stories[0]["story_id"])
            copies = [i["url"] for i in items if i["publisher"] == copier]
            urls.append(copies[0] if copies else stories[0]["original_url"])
    return urls
