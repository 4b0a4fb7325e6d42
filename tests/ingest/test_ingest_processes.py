"""The processes an ingest starts never outlive it, and a Ctrl-C does not break them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.builders import write_warc
from tests.ingest.test_concurrency import _captures
from tracker.ingest.archives import parse_ahead
from tracker.model import Capture, ParsedFeed

TRACKER = str(Path(sys.executable).with_name("tracker"))


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.skipif(not Path("/proc").is_dir() or (os.cpu_count() or 1) < 2, reason="needs /proc and a parser process")
def test_parser_processes_exit_when_the_ingest_is_killed(tmp_path: Path) -> None:
    archive = write_warc(tmp_path / "big.warc", _captures(150))
    config = tmp_path / "tracker.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "t.sqlite3"}"\n')
    ingest = subprocess.Popen([TRACKER, "--config", str(config), "ingest", str(archive)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        children: set[int] = set()
        while time.monotonic() < deadline and ingest.poll() is None:
            children = _children(ingest.pid)
            if len(children) >= 2:  # the resource tracker and a parser
                break
            time.sleep(0.2)
        assert children and ingest.poll() is None, "the ingest ended before its parser could be seen"
        ingest.send_signal(signal.SIGKILL)
        ingest.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(c) for c in children):
            time.sleep(0.2)
        assert not [c for c in children if _alive(c)], "a process of the killed ingest is still running"
    finally:
        if ingest.poll() is None:
            ingest.kill()


def test_a_ctrl_c_while_the_parser_process_starts_neither_kills_it_nor_breaks_the_ingest() -> None:
    """A terminal's Ctrl-C reaches the whole process group, a parser process still importing too
    (before it could ignore Ctrl-C itself): it must live on, the parent alone decides to stop."""
    import multiprocessing

    def captures() -> Iterator[Capture]:
        batch = _captures(2)
        yield batch[0]
        # The first capture's submit has just started the parser process: still starting up.
        for child in multiprocessing.active_children():
            os.kill(child.pid, signal.SIGINT)  # type: ignore[arg-type]
        yield from batch[1:]

    parsed = [result for _capture, result in parse_ahead(captures(), workers=1)]
    assert parsed and all(isinstance(result, ParsedFeed) for result in parsed)
