"""OPML benchmark: what a 100,000-feed subscription list costs each command.

    python bench/opml_bench.py [--feeds 100000] [--tracker PATH/TO/tracker] [--runs 1]

Writes an OPML 2.0 list of `--feeds` feeds (in folders of 1,000, each feed with a title,
a site and a publisher) and a config naming it, on a fresh SQLite database, then runs
`feeds` (twice: the first parses the list, the second finds it unchanged), `stats` and
`status` as separate processes and prints each one's wall time and peak resident memory.
`--tracker` picks the installation (another checkout's `.venv/bin/tracker`, to compare
before and after); its own Python creates the database. The parsed-list cache is a
scratch folder, so the first `feeds` is a cold start.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def write_opml(path: Path, feeds: int, per_folder: int = 1000) -> None:
    """An OPML list of `feeds` feeds in folders of `per_folder`."""
    with path.open("w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n<opml version="2.0"><head><title>bench</title></head><body>\n')
        for start in range(0, feeds, per_folder):
            out.write(f'<outline text="Desk {start // per_folder}" title="Desk {start // per_folder}">\n')
            for i in range(start, min(start + per_folder, feeds)):
                out.write(
                    f'  <outline type="rss" text="Feed {i}" title="Feed {i}" xmlUrl="https://site{i}.example/feed.xml" '
                    f'htmlUrl="https://site{i}.example/" publisher="Publisher {i}"/>\n'
                )
            out.write("</outline>\n")
        out.write("</body></opml>\n")


def measure(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, float, int]:
    """(wall seconds, CPU seconds, peak RSS in MiB, exit code) of one process; its last error
    line is shown on failure. CPU time is the steadier figure on a shared machine."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors, env=env, cwd=cwd)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode not in (0, 1):  # status exits 1 when nothing was ever polled
            errors.seek(0)
            print("   ", (errors.read().decode(errors="replace").strip().splitlines() or ["?"])[-1][:200])
    return time.perf_counter() - started, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, process.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=100_000)
    parser.add_argument("--tracker", default=str(Path(sys.executable).with_name("tracker")))
    parser.add_argument("--runs", type=int, default=1, help="runs of each command (the best is printed)")
    args = parser.parse_args()
    tracker = Path(args.tracker)
    with tempfile.TemporaryDirectory(prefix="opml-bench-") as scratch:
        folder = Path(scratch)
        write_opml(folder / "subs.opml", args.feeds)
        url = f"sqlite:///{folder / 'tracker.sqlite3'}"
        (folder / "tracker.toml").write_text(f'[database]\nurl = "{url}"\n\n[[opml]]\npath = "subs.opml"\n')
        subprocess.run([str(tracker.with_name("python")), "-c",
                        f"from tracker.store.database import open_database; open_database({url!r})"],
                       check=True, cwd=folder)  # not here: `python -c` would import this checkout
        env = {**os.environ, "TRACKER_CACHE_DIR": str(folder / "cache"), "TRACKER_CONFIG": str(folder / "tracker.toml")}
        size = (folder / "subs.opml").stat().st_size / 2**20
        print(f"{tracker}: {args.feeds:,} feeds, OPML {size:.1f} MiB, load average {os.getloadavg()[0]:.1f}")
        commands = [
            ("feeds (first)", ["feeds", "--format", "csv"]), ("feeds (again)", ["feeds", "--format", "csv"]),
            ("stats", ["stats"]), ("status", ["status", "--ignore-daemon"]),
        ]
        for name, command in commands:
            best = min((measure([str(tracker), *command], env, folder) for _ in range(args.runs)), key=lambda m: m[0])
            print(f"  {name:<14} {best[0]:7.2f} s wall {best[1]:7.2f} s CPU {best[2]:6.0f} MiB peak RSS  (exit {best[3]})")


if __name__ == "__main__":
    main()
