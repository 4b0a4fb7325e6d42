"""A user who may read the database but not write it (nor its folder) can run the read-only
commands: SQLite's WAL would have the reader create `-shm` and `-wal` files next to it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.builders import T0, Item, capture, rss
from tests.conftest import make_pipeline

FEED = "https://a.example/rss"


@pytest.fixture
def readonly_folder() -> Iterator[Path]:
    """A folder others may enter (pytest's own temporary folders are private to their owner)."""
    folder = Path(tempfile.mkdtemp(prefix="tracker-ro-", dir="/tmp"))
    folder.chmod(0o755)
    yield folder
    folder.chmod(0o755)
    shutil.rmtree(folder, ignore_errors=True)


def _as_reader() -> list[str]:
    """How to run a command as a user without write access: root writes anything, so as nobody."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: no way to be a user who cannot write")
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def test_read_only_commands_read_a_database_they_cannot_write(readonly_folder: Path) -> None:
    url = f"sqlite:///{readonly_folder / 'tracker.sqlite3'}"
    pipeline = make_pipeline(url, [{"url": FEED, "publisher": "A"}])
    pipeline.process(capture(FEED, T0, rss("A", "https://a.example/", [Item("Title one", "https://a.example/1", ["Some text here."], T0)])))
    pipeline.sessions.kw["bind"].dispose()
    for extra in ("-wal", "-shm"):
        assert not (readonly_folder / f"tracker.sqlite3{extra}").exists()
    config = readonly_folder / "tracker.toml"
    config.write_text(f'[database]\nurl = "{url}"\n\n[[feeds]]\nurl = "{FEED}"\n')
    for path in (readonly_folder / "tracker.sqlite3", config):
        path.chmod(0o444)
    readonly_folder.chmod(0o555)
    tracker = [sys.executable, "-m", "tracker"]
    for command in (["stats"], ["stories"], ["upgrade"]):
        done = subprocess.run([*_as_reader(), *tracker, "--config", str(config), *command],
                              capture_output=True, text=True, timeout=120, cwd="/")
        assert done.returncode == 0, (command, done.stderr)
    assert "1 feed, 1 capture, 1 item" in subprocess.run([*_as_reader(), *tracker, "--config", str(config), "stats"],
                                       capture_output=True, text=True, timeout=120, cwd="/").stdout
    assert sorted(p.name for p in readonly_folder.iterdir()) == ["tracker.sqlite3", "tracker.toml"]
