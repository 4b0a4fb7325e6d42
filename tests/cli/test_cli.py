"""The command line as a user meets it: summaries, one-line errors, exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from tests.builders import T0, Item, article, capture, hours, rss, write_warc
from tests.pipeline.test_pipeline import FEEDS, KHAAMA, MIRROR_URL, ORIGINAL_URL, RU24, khaama_item, mirror_item, network
from tracker.cli import main

FIXTURES = Path(__file__).parents[1] / "fixtures" / "feeds"


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    lines = ["[database]", f'url = "sqlite:///{tmp_path / "db" / "tracker.sqlite3"}"', ""]
    for feed in FEEDS:
        lines += ["[[feeds]]", f'url = "{feed["url"]}"', f'publisher = "{feed["publisher"]}"', ""]
    path = tmp_path / "tracker.toml"
    path.write_text("\n".join(lines))
    return path


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_ingest_warc_prints_a_summary_and_second_run_changes_nothing(tmp_path: Path, config_file: Path) -> None:
    warc = write_warc(tmp_path / "world.warc.gz", network(article(40, paragraphs=8)))
    code, out, _ = run("--config", str(config_file), "ingest", str(warc))
    assert code == 0
    assert "4 captures (0 already stored), 4 new items, 0 updates, 3 republications found, 0 errors" in out
    code, out, _ = run("--config", str(config_file), "ingest", str(warc))
    assert code == 0 and "0 captures (4 already stored), 0 new items" in out


def test_an_ingest_counts_the_republications_it_found_not_those_another_process_stored_meanwhile(
    tmp_path: Path, config_file: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tracker.ingest import archives

    ours = write_warc(tmp_path / "ours.warc", network(article(45, paragraphs=8)))
    text = article(46, paragraphs=8)
    theirs = write_warc(tmp_path / "theirs.warc", [
        capture(f"https://{site}.example/feed", T0 + hours(n + 1), rss(site, f"https://{site}.example/", [
            Item("Another story", f"https://{site}.example/1.html", text, T0 + hours(n)),
        ]))
        for n, site in enumerate(["wire", "copier"])
    ])
    real, others = archives.ingest_paths, []

    def meanwhile(*args, **kwargs):  # type: ignore[no-untyped-def]
        monkeypatch.setattr(archives, "ingest_paths", real)
        # Another process stores its own finds while this ingest runs.
        others.append(run("--config", str(config_file), "ingest", str(theirs)))
        return real(*args, **kwargs)

    monkeypatch.setattr(archives, "ingest_paths", meanwhile)
    code, out, _ = run("--config", str(config_file), "ingest", str(ours))
    assert others[0][0] == 0 and "1 republication found" in others[0][1], others[0]
    assert code == 0 and "3 republications found" in out
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'db' / 'tracker.sqlite3'}")
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT COUNT(*) FROM republications")).scalar_one() == 4  # both stored
    engine.dispose()


def test_origin_prints_the_original_and_the_chain(tmp_path: Path, config_file: Path) -> None:
    warc = write_warc(tmp_path / "world.warc", network(article(41, paragraphs=8)))
    run("--config", str(config_file), "ingest", str(warc))
    code, out, _ = run("--config", str(config_file), "origin", "https://mirrorofmirrors.example/9.html")
    assert code == 0
    assert out.startswith("Original: Khaama Press")
    assert ORIGINAL_URL in out and MIRROR_URL in out
    assert "Chain: Mirror of Mirrors ← ru24.pro ← Khaama Press" in out


def test_stats_counts_per_publisher(tmp_path: Path, config_file: Path) -> None:
    warc = write_warc(tmp_path / "world.warc", network(article(42, paragraphs=8)))
    run("--config", str(config_file), "ingest", str(warc))
    code, out, _ = run("--config", str(config_file), "stats")
    assert code == 0
    khaama = next(line for line in out.splitlines() if line.startswith("Khaama Press"))
    assert khaama.split()[2:] == ["1", "1", "0", "3", "3"]  # items, originals, copies made, copied by others, by publishers
    assert "4 feeds, 4 captures, 4 items, 3 republications" in out


def test_config_errors_are_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[detection]\nmin_jaccard = 3.0\n")
    code, out, err = run("--config", str(bad), "stats")
    assert code == 2
    assert err.strip().count("\n") == 0
    assert "detection.min_jaccard" in err and "tracker: error:" in err


def test_unknown_url_and_missing_file_are_clear_errors(tmp_path: Path, config_file: Path) -> None:
    run("--config", str(config_file), "ingest", str(write_warc(tmp_path / "w.warc", network(article(45, paragraphs=8)))))
    code, _, err = run("--config", str(config_file), "origin", "https://nowhere.example/x")
    assert code == 2 and "no item with URL https://nowhere.example/x" in err
    code, _, err = run("--config", str(config_file), "ingest", str(tmp_path / "missing.warc.gz"))
    assert code == 2 and "no such file" in err
    code, _, err = run("--config", str(config_file), "ingest", str(tmp_path / "tracker.toml"))
    assert code == 2 and "needs --url" in err
    # A folder is not taken for a plain feed file missing its --url.
    code, _, err = run("--config", str(config_file), "ingest", str(tmp_path))
    assert code == 2 and "a folder, not a file" in err


def test_an_empty_archive_is_warned_of_and_the_others_are_ingested(tmp_path: Path, config_file: Path) -> None:
    warc = write_warc(tmp_path / "world.warc", network(article(44, paragraphs=8)))
    empty = tmp_path / "empty.warc.gz"
    empty.write_bytes(b"")
    code, out, err = run("--config", str(config_file), "ingest", str(empty), str(warc))
    assert code == 0
    assert f"warning: {empty}: no record in this archive (empty)" in err
    assert str(warc) not in err
    assert out.startswith("4 captures ")


def test_config_file_chosen_by_environment(tmp_path: Path, config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    warc = write_warc(tmp_path / "world.warc", network(article(44, paragraphs=8)))
    monkeypatch.setenv("TRACKER_CONFIG", str(config_file))
    run("ingest", str(warc))
    code, out, _ = run("stats")
    assert code == 0 and "4 feeds, 4 captures, 4 items" in out


@pytest.mark.parametrize("fixture", sorted(p.name for p in FIXTURES.glob("*") if p.suffix in (".xml", ".rss", ".atom", ".rdf")))
def test_real_world_feeds_in_many_languages_ingest_without_error(tmp_path: Path, config_file: Path, fixture: str) -> None:
    code, out, err = run(
        "--config", str(config_file), "ingest", "--url", f"https://{fixture}.example/feed",
        "--captured-at", "2025-01-07T10:00:00Z", str(FIXTURES / fixture),
    )
    assert code == 0, err
    assert "1 capture " in out and " 0 errors" in out


def test_a_page_that_is_not_a_feed_is_an_error_and_loses_nothing(tmp_path: Path, config_file: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text("<!doctype html><html><body><p>Not a feed</p></body></html>")
    warc = write_warc(tmp_path / "world.warc", network(article(43, paragraphs=8)))
    run("--config", str(config_file), "ingest", str(warc))
    code, out, err = run("--config", str(config_file), "ingest", "--url", "https://x.example/feed", str(page))
    assert code == 1 and "1 error" in out and "not a feed" in err
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'db' / 'tracker.sqlite3'}")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM items")).scalar_one() == 4


# -- terminal safety ----------------------------------------------------------------------------------------
# C0 controls (ESC, BEL) are dropped when a feed is parsed; bidi overrides are kept as
# the feed said them, and escaped wherever they are printed.
HOSTILE_TITLE = "Clear\x1b[2J\x1b[31mRed\x1b]0;owned\x07 \u202egnp.exe\u202c done"


def _hostile_warc(tmp_path: Path) -> Path:
    """The usual network, with a title and a feed title full of terminal control sequences."""
    story = article(46, paragraphs=8)
    captures = [
        capture(KHAAMA, T0 + hours(0.5), rss("Khaama Press", "https://www.khaama.com/", [khaama_item(story, title=HOSTILE_TITLE)])),
        capture(RU24, T0 + hours(2.5), rss("ru24.pro", "https://ru24.pro/", [mirror_item(story, title=HOSTILE_TITLE)], full_content=False)),
    ]
    hostile_feed = capture(
        "https://hostile.example/feed", T0,
        rss("Evil\x1b[2J Feed\u202e", "https://hostile.example/", [Item(HOSTILE_TITLE, "https://hostile.example/a\x1b[0m", article(47), T0)]),
    )
    return write_warc(tmp_path / "hostile.warc", [*captures, hostile_feed])


def _assert_no_controls(text: str) -> None:
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text and "\x9b" not in text, repr(text)


def test_control_characters_from_feeds_are_escaped_in_every_output(tmp_path: Path, config_file: Path) -> None:
    warc = _hostile_warc(tmp_path)
    code, out, err = run("--config", str(config_file), "ingest", str(warc))
    assert code == 0, err
    _assert_no_controls(out + err)
    code, out, err = run("--config", str(config_file), "origin", MIRROR_URL)
    assert code == 0, err
    _assert_no_controls(out + err)
    assert "Clear[2J[31mRed]0;owned \\u202egnp.exe\\u202c done" in out
    code, out, err = run("--config", str(config_file), "stats")
    assert code == 0
    _assert_no_controls(out + err)
    assert "Evil[2J Feed\\u202e" in out
    code, out, err = run("--config", str(config_file), "status")
    _assert_no_controls(out + err)


def test_a_hostile_url_in_an_error_message_is_escaped(tmp_path: Path, config_file: Path) -> None:
    run("--config", str(config_file), "ingest", str(_hostile_warc(tmp_path)))
    code, _, err = run("--config", str(config_file), "origin", "https://nowhere.example/\x1b[2J")
    assert code == 2 and "\\x1b[2J" in err
    _assert_no_controls(err)


# -- exit codes and messages ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["damaged.warc", "damaged.warc.gz"])
def test_a_damaged_archive_stores_what_came_before_and_exits_1(tmp_path: Path, config_file: Path, name: str) -> None:
    whole = write_warc(tmp_path / f"whole-{name}", network(article(48, paragraphs=8))).read_bytes()
    damaged = tmp_path / name
    damaged.write_bytes(whole[: len(whole) - 300])  # a crawler killed while writing the last record
    code, out, err = run("--config", str(config_file), "ingest", str(damaged))
    assert code == 1, (out, err)
    assert out.startswith("3 captures") and "1 error" in out and ("truncated" in err or "damaged" in err)


def test_a_record_without_a_target_uri_is_one_error_and_the_records_after_it_are_stored(tmp_path: Path, config_file: Path) -> None:
    whole = write_warc(tmp_path / "whole.warc.gz", network(article(49, paragraphs=8))).read_bytes()
    bad = write_warc(tmp_path / "bad.warc.gz", [capture("", T0, rss("No URI", "https://nouri.example/", []))]).read_bytes()
    archive = tmp_path / "mixed.warc.gz"
    archive.write_bytes(bad + whole)
    code, out, err = run("--config", str(config_file), "ingest", str(archive))
    assert code == 1, (out, err)
    assert out.startswith("4 captures (0 already stored)") and "1 error" in out
    assert "response record without a WARC-Target-URI: not read" in err and "skipped 1 WARC record (1 broken)" in err
    assert "damaged" not in err and "NoneType" not in err


def test_a_feed_file_over_the_cap_is_one_error_and_the_other_files_are_stored(
        tmp_path: Path, config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tracker.reader.archive

    good = FIXTURES / "de_rss_iso8859-1.xml"
    monkeypatch.setattr(tracker.reader.archive, "WARC_BODY_MAX", good.stat().st_size)
    huge = tmp_path / "huge.xml"
    huge.write_bytes(good.read_bytes() + b" ")
    code, out, err = run("--config", str(config_file), "ingest", "--url", "https://de.example/feed",
                         "--captured-at", "2025-01-07T10:00:00Z", str(huge), str(good))
    assert code == 1, (out, err)
    assert out.startswith("1 capture (0 already stored)") and "1 error" in out
    assert f"{huge}: feed file over" in err and "MiB: not read" in err and "skipped 1 feed file (1 too large)" in err
    assert "Traceback" not in err and "MemoryError" not in err


def test_ctrl_c_prints_the_summary_so_far_and_how_to_resume(tmp_path: Path, config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tracker.pipeline.capture import Pipeline

    import signal

    warc = write_warc(tmp_path / "world.warc", network(article(49, paragraphs=8)))
    store = Pipeline._store_capture
    calls = []

    def interrupted_during_the_third(self: Pipeline, *args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 3:
            signal.raise_signal(signal.SIGINT)  # the capture being stored is finished, then no other
        return store(self, *args, **kwargs)

    monkeypatch.setattr(Pipeline, "_store_capture", interrupted_during_the_third)
    code, out, err = run("--config", str(config_file), "ingest", str(warc))
    assert code == 130, (out, err)
    assert "3 captures (0 already stored), 3 new items" in out
    assert "Run the same command again to resume" in err and "Traceback" not in err and "Aborted" not in err
    monkeypatch.setattr(Pipeline, "_store_capture", store)
    code, out, _ = run("--config", str(config_file), "ingest", str(warc))
    assert code == 0 and "(3 already stored), 1 new item" in out


def test_operational_errors_are_one_line_and_exit_3_with_a_traceback_only_at_vv(
    tmp_path: Path, config_file: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sqlalchemy.exc import OperationalError

    from tracker.pipeline.capture import Pipeline

    def disk_full(self: Pipeline, *args: object, **kwargs: object) -> object:
        raise OperationalError("INSERT INTO captures …", {}, Exception("database or disk is full"))

    warc = write_warc(tmp_path / "world.warc", network(article(50, paragraphs=8)))
    monkeypatch.setattr(Pipeline, "_store_capture", disk_full)
    code, _, err = run("--config", str(config_file), "ingest", str(warc))
    assert code == 3
    assert err.strip() == "tracker: error: database error: database or disk is full"
    code, _, err = run("--config", str(config_file), "-vv", "ingest", str(warc))
    assert code == 3 and "Traceback" in err and err.strip().endswith("database or disk is full")


def test_permission_denied_is_one_line(tmp_path: Path, config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tracker.pipeline.capture import Pipeline

    def denied(self: Pipeline, *args: object, **kwargs: object) -> object:
        raise PermissionError(13, "Permission denied", "/var/lib/tracker/archive")

    monkeypatch.setattr(Pipeline, "_store_capture", denied)
    code, _, err = run("--config", str(config_file), "ingest", str(write_warc(tmp_path / "w.warc", network(article(51)))))
    assert code == 3 and err.strip() == "tracker: error: Permission denied: /var/lib/tracker/archive"


def test_an_unreachable_database_is_one_line_and_exit_3(tmp_path: Path) -> None:
    config = tmp_path / "pg.toml"
    config.write_text('[database]\nurl = "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2"\n')
    code, _, err = run("--config", str(config), "ingest", str(write_warc(tmp_path / "w.warc", network(article(52)))))
    assert code == 3 and err.count("\n") == 1 and "cannot reach database" in err


# -- numbers that agree --------------------------------------------------------------------------------------
def _view_count(tmp_path: Path) -> int:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'db' / 'tracker.sqlite3'}")
    with engine.connect() as conn:
        count = conn.execute(sa.text("SELECT COUNT(*) FROM republications")).scalar_one()
    engine.dispose()
    return int(count)


def test_the_summary_counts_what_the_republications_view_shows(tmp_path: Path, config_file: Path) -> None:
    # The mirror is seen before the original: it is counted as the original's copy only once
    # the original arrives, and a copy re-parented on the way is not counted twice.
    story = article(53, paragraphs=8)
    captures = network(story)
    code, out, _ = run("--config", str(config_file), "ingest", str(write_warc(tmp_path / "late.warc", captures[1:])))
    first = int(out.split(" republication")[0].rsplit(", ", 1)[1])
    assert code == 0 and first == _view_count(tmp_path)
    code, out, _ = run("--config", str(config_file), "ingest", str(write_warc(tmp_path / "early.warc", captures[:1])))
    second = int(out.split(" republication")[0].rsplit(", ", 1)[1])
    assert code == 0 and first + second == _view_count(tmp_path) == 3


def test_plurals_are_right(tmp_path: Path, config_file: Path) -> None:
    story = article(54, paragraphs=8)
    captures = network(story)[:2]
    code, out, _ = run("--config", str(config_file), "ingest", str(write_warc(tmp_path / "two.warc", captures)))
    assert code == 0 and "2 captures (0 already stored), 2 new items, 0 updates, 1 republication found, 0 errors" in out
    code, out, _ = run("--config", str(config_file), "origin", ORIGINAL_URL)
    assert "Story (2 items, 1 republication):" in out


def test_a_negative_lag_is_explained_where_origin_shows_it(tmp_path: Path, config_file: Path) -> None:
    # The mirror dates its copy two hours before the original and credits it in its footer;
    # its feed was never captured before, so the date stands: the copy precedes its parent.
    story = article(55, paragraphs=8)
    original = capture(KHAAMA, T0 + hours(3), rss("Khaama Press", "https://www.khaama.com/", [khaama_item(story, published=T0 + hours(2))]))
    mirror = capture(RU24, T0 + hours(1), rss("ru24.pro", "https://ru24.pro/", [mirror_item(story, published=T0)]))
    run("--config", str(config_file), "ingest", str(write_warc(tmp_path / "lag.warc", [mirror, original])))
    code, out, _ = run("--config", str(config_file), "origin", MIRROR_URL)
    assert code == 0
    assert "Chain: ru24.pro ← Khaama Press" in out
    assert "-2h]" in out
    assert "(negative lag: dated 2h before its parent, which it credits (footer: Khaama Press); the credit outweighs the date)" in out


# -- global options, progress --------------------------------------------------------------------------------
def test_global_options_work_after_the_command_name_too(tmp_path: Path, config_file: Path) -> None:
    warc = write_warc(tmp_path / "world.warc", network(article(56, paragraphs=8)))
    code, out, err = run("ingest", str(warc), "--config", str(config_file), "-v")
    assert code == 0, err
    assert "database" in err and str(tmp_path / "db" / "tracker.sqlite3") in err  # -v says which database
    code, out, _ = run("stats", "--config", str(config_file))
    assert code == 0 and "4 feeds, 4 captures, 4 items, 3 republications" in out
    code, out, _ = run("origin", ORIGINAL_URL, "--config", str(config_file))
    assert code == 0 and out.startswith("Original: Khaama Press")


def test_without_a_terminal_a_long_ingest_logs_its_progress(tmp_path: Path, config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tracker.cli.base

    monkeypatch.setattr(tracker.cli.base, "PROGRESS_SECONDS", 0.0)
    warc = write_warc(tmp_path / "world.warc", network(article(57, paragraphs=8)))
    code, _, err = run("--config", str(config_file), "ingest", str(warc))
    assert code == 0
    lines = [line for line in err.splitlines() if line.startswith("ingest: ")]
    assert len(lines) == 4
    assert lines[-1].startswith("ingest: 4 captures done, 4 new items, 0 errors, ") and lines[-1].endswith(" captures/s")
    code, _, err = run("--config", str(config_file), "ingest", "--no-progress", str(warc))
    assert "ingest: " not in err


def test_each_process_of_ingest_workers_logs_its_progress_as_lines(tmp_path: Path, config_file: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import tracker.cli.base

    monkeypatch.setattr(tracker.cli.base, "PROGRESS_SECONDS", 0.0)
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)  # even on a terminal: no bar per process
    warc = write_warc(tmp_path / "world.warc", network(article(58, paragraphs=8)))
    code, _, err = run("--config", str(config_file), "ingest", "--share", "0/1", str(warc))
    assert code == 0
    lines = [line for line in err.splitlines() if line.startswith("ingest 1/1: ")]
    assert len(lines) == 4 and lines[-1].startswith("ingest 1/1: 4 captures done, 4 new items, 0 errors, "), err
    assert "it/s" not in err and "captures/s]" not in err  # no tqdm bar


@pytest.mark.postgres
@pytest.mark.parametrize("flag", [[], ["--no-progress"]])
def test_ingest_workers_passes_no_progress_on_only_when_asked(tmp_path: Path, pg_url: str, flag: list[str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import tracker.ingest.shares

    started: list[list[str]] = []

    def record(global_args: list[str], ingest_args: list[str], paths: list[Path], count: int) -> tracker.ingest.shares.SharedIngest:
        started.append(ingest_args)
        return tracker.ingest.shares.SharedIngest(tracker.ingest.shares.IngestReport(), [0] * count, [True] * count)

    monkeypatch.setattr(tracker.ingest.shares, "ingest_in_processes", record)
    config = tmp_path / "pg.toml"
    config.write_text(f'[database]\nurl = "{pg_url}"\n')
    warc = write_warc(tmp_path / "world.warc", network(article(59, paragraphs=8)))
    code, _, err = run("--config", str(config), "ingest", "--workers", "2", *flag, str(warc))
    assert code == 0, err
    assert [("--no-progress" in args) for args in started] == [bool(flag)]


def test_a_real_ctrl_c_during_a_long_ingest_is_clean_and_resumable(tmp_path: Path, config_file: Path) -> None:
    """SIGINT to the whole process group, as a terminal sends it: parser processes included."""
    import os
    import signal
    import subprocess
    import sys
    import time

    # Long enough to be interrupted after 20 captures are stored on a fast machine; each
    # capture costs CPU again in the resumed run, which stores the rest.
    CAPTURES = 240  # noqa: N806
    captures = [
        capture(f"https://feed{i % 25}.example/rss", T0 + hours(i),
                rss(f"Feed {i % 25}", f"https://feed{i % 25}.example/", [Item(f"Story {i}", f"https://feed{i % 25}.example/{i}", article(1000 + i), T0 + hours(i))]))
        for i in range(CAPTURES)
    ]
    warc = write_warc(tmp_path / "long.warc.gz", captures)
    database = tmp_path / "db" / "tracker.sqlite3"
    command = [sys.executable, "-m", "tracker", "--config", str(config_file), "ingest", str(warc)]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        stored = 0
        while time.monotonic() < deadline and stored < 20:
            time.sleep(0.2)
            if database.exists():
                engine = sa.create_engine(f"sqlite:///{database}")
                try:
                    with engine.connect() as conn:
                        stored = conn.execute(sa.text("SELECT COUNT(*) FROM captures")).scalar_one()
                except sa.exc.OperationalError:
                    stored = 0  # not migrated yet
                finally:
                    engine.dispose()
        assert child.poll() is None, "the ingest finished before it could be interrupted"
        os.killpg(child.pid, signal.SIGINT)
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 130, (out, err)
    assert "Traceback" not in err and "Aborted" not in err, err
    assert "Run the same command again to resume" in err
    done = int(out.split(" captures")[0])
    assert 20 <= done < CAPTURES
    code, out, _ = run("--config", str(config_file), "ingest", str(warc))
    assert code == 0 and f"({done} already stored)" in out and out.startswith(f"{CAPTURES - done} captures")


def test_a_database_of_a_newer_tracker_is_refused_by_every_command_with_status_3(tmp_path: Path, config_file: Path) -> None:
    warc = write_warc(tmp_path / "world.warc.gz", network(article(44, paragraphs=8)))
    assert run("--config", str(config_file), "ingest", str(warc))[0] == 0
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'db' / 'tracker.sqlite3'}")
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = '0099'"))
    engine.dispose()
    for command in (["stats"], ["ingest", str(warc)], ["run"]):
        code, _, err = run("--config", str(config_file), *command)
        assert code == 3, (command, err)
        assert "schema revision 0099, newer than this tracker knows" in err, (command, err)
        assert "internal error" not in err, (command, err)


def test_a_file_that_is_no_database_is_said_so_in_one_line_by_every_command(tmp_path: Path) -> None:
    db = tmp_path / "tracker.sqlite3"
    db.write_bytes(b"not a database at all " * 400)
    config = tmp_path / "tracker.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{db}"\n')
    warc = write_warc(tmp_path / "world.warc", network(article(47, paragraphs=8)))
    for command in (["ingest", str(warc)], ["stats"]):
        code, _, err = run("--config", str(config), *command)
        assert code == 3, (command, err)
        assert len(err.strip().splitlines()) == 1 and "file is not a database" in err, (command, err)
    assert db.read_bytes() == b"not a database at all " * 400  # left as it was


@pytest.mark.parametrize(("args", "words"), [
    (["stories", "--since", "99999999d"], "--since: '99999999d' reaches back before the year 1"),
    (["stories", "--limit", "99999999999999999999"], "99999999999999999999 is not in the range 1<=x<=2147483647"),
    (["stories", "--min-copies", str(2**63)], "is not in the range 0<=x<=2147483647"),
    (["find", "x", "--limit", str(2**40)], "is not in the range 1<=x<=2147483647"),
    (["ingest", "--workers", "1000", "x.warc"], "1000 is not in the range 1<=x<=64"),
])
def test_an_out_of_range_number_is_bad_usage_not_an_internal_error(config_file: Path, args: list[str], words: str) -> None:
    code, _, err = run("--config", str(config_file), *args)
    assert code == 2 and words in err, err


@pytest.mark.parametrize("args", [
    ["graph", "https://example.com/a.html", "--out"],
    ["export", "--out"],
    ["feeds", "export", "--out"],
    ["report", "--out"],
    ["demo", "--write-sample"],
    ["demo", "--database"],
])
def test_every_output_path_in_a_missing_folder_is_refused_alike_and_nothing_is_created(
    tmp_path: Path, config_file: Path, args: list[str]
) -> None:
    target = tmp_path / "no-such-folder" / "deeper" / "out.svg"
    code, out, err = run("--config", str(config_file), *args, str(target))
    assert code == 2
    assert err.strip() == f"tracker: error: {args[-1]} {target}: folder {target.parent} does not exist"
    assert not (tmp_path / "no-such-folder").exists()


def test_poll_names_its_database_once_in_the_log_alerts_and_all(tmp_path: Path) -> None:
    config = tmp_path / "tracker.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "t.db"}"\n\n'
                      '[[alerts]]\nname = "desk"\nany = true\nfile = "alerts.jsonl"\n')
    code, out, err = run("--config", str(config), "-v", "poll")
    assert code == 0, err
    assert "alerts: 0 delivered" in out
    assert err.count(" INFO database ") == 1, err
