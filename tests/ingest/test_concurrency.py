"""Several processes writing one database give the result of a serial run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.builders import T0, Item, article, capture, hours, rss, write_warc
from tests.pipeline.test_pipeline import DIGEST, FEEDS, KHAAMA, MIRRORS, RU24, khaama_item, mirror_item
from tests.conftest import make_pipeline
from tracker.model import Capture

TRACKER = str(Path(sys.executable).with_name("tracker"))


def _captures(stories: int) -> list[Capture]:
    """`stories` stories through the four feeds (original, mirror, excerpt, mirror of the
    mirror), five hours apart; each capture of a feed shows its last two items."""
    shown: dict[str, list[Item]] = {url: [] for url in (KHAAMA, RU24, DIGEST, MIRRORS)}
    captures = []
    for n in range(stories):
        text, start = article(900 + n, paragraphs=6), T0 + hours(5 * n)
        title = f"Story {n} of the day"
        original = f"https://www.khaama.com/story-{n}/"
        mirror = mirror_item(text, title=title, link=f"https://ru24.pro/{n}.html", published=start + hours(2))
        items = {
            KHAAMA: khaama_item(text, title=title, link=original, published=start),
            RU24: mirror,
            DIGEST: Item(title, f"https://headlinedigest.example/{n}.html", [*text[:1], f"Read the full story at Khaama Press: {original}"], start + hours(3)),
            MIRRORS: Item(title, f"https://mirrorofmirrors.example/{n}.html", ["Reposted from around the web", *mirror.paragraphs], start + hours(4)),
        }
        for offset, (url, item) in enumerate(items.items()):
            shown[url] = [item, *shown[url][:1]]
            name = {KHAAMA: "Khaama Press", RU24: "ru24.pro", DIGEST: "Headline Digest", MIRRORS: "Mirror of Mirrors"}[url]
            captures.append(capture(url, start + hours(offset + 0.5), rss(name, url, shown[url], full_content=url == KHAAMA)))
    return captures


def _config(path: Path, url: str) -> Path:
    lines = ["[database]", f'url = "{url}"', ""]
    for feed in FEEDS:
        lines += ["[[feeds]]", f'url = "{feed["url"]}"', f'publisher = "{feed["publisher"]}"', ""]
    path.write_text("\n".join(lines))
    return path


def _provenance(url: str) -> dict[str, tuple[str, str | None, str]]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT p.url, o.url, par.url, p.relation FROM item_provenance p JOIN items o ON o.id = p.original_item_id "
            "LEFT JOIN items par ON par.id = p.parent_item_id"
        )).all()
        count = conn.execute(sa.text("SELECT COUNT(*) FROM items")).scalar_one()
    engine.dispose()
    assert count == len(rows)
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_two_ingests_at_once_equal_a_serial_run(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> None:
    captures = _captures(12)
    # Two archives that interleave in time: each process sees only half of every story.
    first = write_warc(tmp_path / "a.warc", captures[0::2])
    second = write_warc(tmp_path / "b.warc", captures[1::2])
    urls = [f"sqlite:///{tmp_path / name}.sqlite3" for name in ("serial", "together")] if backend == "sqlite" else [
        request.getfixturevalue("pg_databases")(), request.getfixturevalue("pg_databases")()]
    serial, together = (_config(tmp_path / f"{name}.toml", url) for name, url in zip(("serial", "together"), urls, strict=True))
    for archive in (first, second):
        done = subprocess.run([TRACKER, "--config", str(serial), "ingest", str(archive)], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
    runs = [subprocess.Popen([TRACKER, "--config", str(together), "ingest", str(a)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for a in (first, second)]
    for run in runs:
        out, err = run.communicate(timeout=300)
        assert run.returncode == 0, err
    expected = _provenance(urls[0])
    assert len(expected) == 12 * 4
    assert _provenance(urls[1]) == expected


@pytest.mark.postgres
def test_a_capture_of_hundreds_of_new_texts_fits_postgresqls_lock_table(pg_url: str) -> None:
    # Every text has 64 to 128 LSH buckets, each an advisory lock: 300 new items asked for
    # ~38,000, past what a default server holds (max_locks_per_transaction 64 × connections).
    feed = "https://big.example/feed"
    entries = [Item(f"Entry {n}", f"https://big.example/{n}", article(5000 + n, paragraphs=2, words=40), T0) for n in range(300)]
    pipeline = make_pipeline(pg_url, [{"url": feed, "publisher": "Big"}])
    report = pipeline.process(capture(feed, T0, rss("Big", "https://big.example/", entries)))
    assert (report.captures, report.new_items, report.store_error) == (1, 300, None)
