"""The installed tool, not the checkout: a wheel in a fresh venv, run from an unrelated folder."""

from __future__ import annotations

import fcntl
import importlib.util
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "samples" / "demo-network.warc.gz"


def _run(*args: str | Path, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-2000:])
    return done


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """The wheel `pip wheel .` builds, from a clean copy of the sources (no stale build folder).

    Built once per run: with xdist, the first worker to ask builds it in the run's shared
    folder and the others wait for it (a build costs as much as the rest of this file).
    """
    shared = tmp_path_factory.getbasetemp() if worker_id == "master" else tmp_path_factory.getbasetemp().parent
    with open(shared / "wheel.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        work = shared / "wheel"
        built = sorted((work / "dist").glob("tracker-*.whl"))
        if built:
            return built[0]
        shutil.rmtree(work, ignore_errors=True)  # a build that failed halfway
        source = work / "source"
        shutil.copytree(REPO / "tracker", source / "tracker", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        for name in ("pyproject.toml", "README.md"):
            shutil.copy(REPO / name, source / name)
        # Offline when this interpreter can build wheels itself; otherwise pip fetches the build
        # backend into an isolated environment, as it would for any user.
        can_build = all(importlib.util.find_spec(m) is not None for m in ("setuptools", "wheel"))
        isolation = ["--no-build-isolation"] if can_build else []
        _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", *isolation, "-w", work / "dist", source, cwd=work)
        return next((work / "dist").glob("tracker-*.whl"))


def test_the_wheel_ships_the_migrations(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "tracker/store/migrations/env.py" in names
    assert "tracker/store/migrations/script.py.mako" in names
    versions = {Path(n).name for n in names if n.startswith("tracker/store/migrations/versions/")}
    shipped = {p.name for p in (REPO / "tracker" / "store" / "migrations" / "versions").glob("*.py")}
    assert shipped and versions == shipped


def test_the_installed_wheel_works_from_an_unrelated_folder(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    # Without a pip of its own (installing one costs more than the rest of this test): this
    # environment's pip installs into it, as `pip --python` does for any user.
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    # The dependencies come from this test's own environment rather than a download; the
    # tracker itself only from the wheel (a .pth line adds a folder, not its editable hooks).
    site = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=tmp_path).stdout.strip())
    (site / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    _run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-index", wheel, cwd=tmp_path)
    located = _run(python, "-c", "import tracker.store.database as d; print(d.MIGRATIONS)", cwd=tmp_path).stdout.strip()
    assert located.startswith(str(venv)), located

    elsewhere = tmp_path / "somewhere" / "else"
    elsewhere.mkdir(parents=True)
    config = tmp_path / "etc" / "tracker.toml"
    config.parent.mkdir()
    config.write_text('[database]\nurl = "sqlite:///data/tracker.sqlite3"\n')
    tracker = venv / "bin" / "tracker"
    done = _run(tracker, "--config", config, "ingest", "--no-progress", SAMPLE, cwd=elsewhere)
    assert "98 captures (0 already stored), 28 new items" in done.stdout
    assert (config.parent / "data" / "tracker.sqlite3").is_file()  # beside the config, not in the working folder
    assert not any(elsewhere.iterdir())
    done = _run(tracker, "stats", "--config", config, cwd=elsewhere)
    assert "7 feeds, 98 captures, 28 items, 19 republications" in done.stdout
    written = tmp_path / "sample.warc.gz"
    _run(tracker, "demo", "--write-sample", written, cwd=elsewhere)
    assert written.read_bytes() == SAMPLE.read_bytes()
