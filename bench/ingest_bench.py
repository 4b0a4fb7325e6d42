"""Benchmark: `tracker ingest` on a simulated world beside the eval's MinHash baseline.

    python bench/ingest_bench.py [--world ../shared/worlds/dev] [--runs 3]

Runs both on this machine in the same run, interleaved (baseline, tracker, baseline, …)
so that noise from other load falls on both alike, and prints the median wall time of
each (and CPU time, user + system of the process and its children), their ratio (tracker /
baseline; issue #15's target is ≤ 0.5), the peak resident memory of the largest process of
each, and the tracker's scores against the world's truth.

With `--busy` a CPU-bound process runs beside both the whole time (one core of the two
kept busy), as when another job shares the machine.

With `--pg-url` (a PostgreSQL server; scratch databases are created and dropped there) it
then ingests the world on PostgreSQL with one process and with `--workers 2`, interleaved,
and prints both medians, the speed-up (target ≥ 1.6) and whether both databases hold the
same provenance.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


CPU: list[float] = []  # CPU seconds of each timed command, in order


def timed(command: list[str], stdout: int | None = subprocess.DEVNULL) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of the command's largest process (its CPU seconds go to CPU)."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=stdout, stderr=subprocess.PIPE, cwd=ROOT)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    CPU.append(usage.ru_utime + usage.ru_stime)
    if status != 0:
        sys.exit(f"failed ({status}): {' '.join(command)}\n{process.stderr.read().decode() if process.stderr else ''}")
    return elapsed, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", type=Path, default=ROOT.parent / "shared" / "worlds" / "dev")
    parser.add_argument("--eval", type=Path, default=None, help="folder of baseline.py and score.py (default: WORLD/../../eval)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pg-url", default="", help="PostgreSQL server for the 1-vs-2-workers comparison (e.g. "
                        "postgresql+psycopg://postgres@127.0.0.1:5432/postgres; default: skipped)")
    parser.add_argument("--skip-baseline", action="store_true", help="only the PostgreSQL workers comparison")
    parser.add_argument("--busy", action="store_true", help="a CPU-bound process beside the measured ones the whole time")
    args = parser.parse_args()
    world = args.world.resolve()
    evaluation = (args.eval or world.parent.parent / "eval").resolve()
    if not (world / "world.warc.gz").exists():
        sys.exit(f"no world.warc.gz in {world}")
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.busy else None
    try:
        if not args.skip_baseline:
            against_baseline(world, evaluation, args.runs)
        if args.pg_url:
            workers_on_postgresql(world, args.pg_url, args.runs)
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()


def against_baseline(world: Path, evaluation: Path, runs: int) -> None:
    """The tracker on SQLite beside the eval's MinHash baseline."""
    python = sys.executable
    base_times, base_mem, ours_times, ours_mem, base_cpu, ours_cpu = [], [], [], [], [], []
    with tempfile.TemporaryDirectory() as scratch:
        for run in range(runs):
            seconds, mib = timed([python, str(evaluation / "baseline.py"), str(world), "--method", "minhash"])
            base_times.append(seconds)
            base_mem.append(mib)
            base_cpu.append(CPU[-1])
            db = Path(scratch) / f"run{run}.sqlite3"
            config = Path(scratch) / "world.toml"
            config.write_text(f'[database]\nurl = "sqlite:///{db}"\n\n' + (world / "feeds.toml").read_text())
            seconds, mib = timed([python, "-m", "tracker", "--config", str(config), "ingest", "--no-progress", str(world / "world.warc.gz")])
            ours_times.append(seconds)
            ours_mem.append(mib)
            ours_cpu.append(CPU[-1])
            print(f"run {run + 1}: baseline {base_times[-1]:.1f} s, tracker {ours_times[-1]:.1f} s", flush=True)
        scores = {}
        if (world / "truth.jsonl").exists():
            out = subprocess.run(
                [python, str(evaluation / "score.py"), str(world / "truth.jsonl"), "--db", f"sqlite:///{db}"],
                capture_output=True, text=True, check=True,
            ).stdout
            scores = json.loads(out)
    baseline, tracker = statistics.median(base_times), statistics.median(ours_times)
    print()
    print(f"baseline (minhash)  median {baseline:6.1f} s   CPU {statistics.median(base_cpu):6.1f} s   peak RSS {max(base_mem):7.1f} MiB")
    print(f"tracker ingest      median {tracker:6.1f} s   CPU {statistics.median(ours_cpu):6.1f} s   peak RSS {max(ours_mem):7.1f} MiB")
    print(f"ratio tracker/baseline: {tracker / baseline:.2f} (target ≤ 0.50) over {runs} runs")
    if scores:
        keys = ("pair_f1", "origin_accuracy", "parent_accuracy", "false_copy_rate", "seed_case")
        print("scores: " + ", ".join(f"{k} {scores[k]}" for k in keys))


def workers_on_postgresql(world: Path, server: str, runs: int) -> None:
    """The world on PostgreSQL with one ingest process and with two (`--workers 2`)."""
    import sqlalchemy as sa

    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    times: dict[int, list[float]] = {1: [], 2: []}
    provenance: dict[int, set[tuple[object, ...]]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for run in range(runs):
            for workers in (1, 2):
                name = f"bench_ingest_{os.getpid()}_{workers}"
                with admin.connect() as conn:
                    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                    conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
                url = sa.engine.make_url(server).set(database=name).render_as_string(hide_password=False)
                config = Path(scratch) / f"pg{workers}.toml"
                config.write_text(f'[database]\nurl = "{url}"\n\n' + (world / "feeds.toml").read_text())
                # The schema first, untimed: both runs start from a migrated, empty database.
                subprocess.run([sys.executable, "-c", f"from tracker.store.database import open_database; open_database({url!r})"],
                               cwd=ROOT, check=True)
                seconds, _ = timed([sys.executable, "-m", "tracker", "--config", str(config), "ingest", "--no-progress",
                                    "--workers", str(workers), str(world / "world.warc.gz")])
                times[workers].append(seconds)
                engine = sa.create_engine(url)
                with engine.connect() as conn:
                    provenance[workers] = set(conn.execute(sa.text(
                        "SELECT p.url, o.url, par.url, p.relation FROM item_provenance p JOIN items o ON o.id = p.original_item_id "
                        "LEFT JOIN items par ON par.id = p.parent_item_id")).all())
                engine.dispose()
                with admin.connect() as conn:
                    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            print(f"run {run + 1}: PostgreSQL 1 worker {times[1][-1]:.1f} s, 2 workers {times[2][-1]:.1f} s", flush=True)
    admin.dispose()
    one, two = statistics.median(times[1]), statistics.median(times[2])
    print()
    print(f"PostgreSQL, 1 worker    median {one:6.1f} s")
    print(f"PostgreSQL, 2 workers   median {two:6.1f} s")
    print(f"speed-up with 2 workers: {one / two:.2f} (target ≥ 1.60) over {runs} runs; "
          f"same provenance: {'yes' if provenance[1] == provenance[2] else 'NO'} ({len(provenance[1])} items)")


if __name__ == "__main__":
    main()
