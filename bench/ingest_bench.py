"""Benchmark: `tracker ingest` on a simulated world beside the eval's MinHash baseline.

    python bench/ingest_bench.py [--world ../shared/worlds/dev] [--runs 3]

Runs both on this machine in the same run, interleaved (baseline, tracker, baseline, …)
so that noise from other load falls on both alike, and prints the median wall time of
each, their ratio (tracker / baseline: must be ≤ 1.0), the peak resident memory of the
largest process of each, and the tracker's scores against the world's truth.
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


def timed(command: list[str], stdout: int | None = subprocess.DEVNULL) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of the command's largest process."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=stdout, stderr=subprocess.PIPE, cwd=ROOT)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    if status != 0:
        sys.exit(f"failed ({status}): {' '.join(command)}\n{process.stderr.read().decode() if process.stderr else ''}")
    return elapsed, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", type=Path, default=ROOT.parent / "shared" / "worlds" / "dev")
    parser.add_argument("--eval", type=Path, default=None, help="folder of baseline.py and score.py (default: WORLD/../../eval)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    world = args.world.resolve()
    evaluation = (args.eval or world.parent.parent / "eval").resolve()
    if not (world / "world.warc.gz").exists():
        sys.exit(f"no world.warc.gz in {world}")
    python = sys.executable
    base_times, base_mem, ours_times, ours_mem = [], [], [], []
    with tempfile.TemporaryDirectory() as scratch:
        for run in range(args.runs):
            seconds, mib = timed([python, str(evaluation / "baseline.py"), str(world), "--method", "minhash"])
            base_times.append(seconds)
            base_mem.append(mib)
            db = Path(scratch) / f"run{run}.sqlite3"
            config = Path(scratch) / "world.toml"
            config.write_text(f'[database]\nurl = "sqlite:///{db}"\n\n' + (world / "feeds.toml").read_text())
            seconds, mib = timed([python, "-m", "tracker", "--config", str(config), "ingest", "--no-progress", str(world / "world.warc.gz")])
            ours_times.append(seconds)
            ours_mem.append(mib)
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
    print(f"baseline (minhash)  median {baseline:6.1f} s   peak RSS {max(base_mem):7.1f} MiB")
    print(f"tracker ingest      median {tracker:6.1f} s   peak RSS {max(ours_mem):7.1f} MiB")
    print(f"ratio tracker/baseline: {tracker / baseline:.2f} (target ≤ 1.00) over {args.runs} runs")
    if scores:
        keys = ("pair_f1", "origin_accuracy", "parent_accuracy", "false_copy_rate", "seed_case")
        print("scores: " + ", ".join(f"{k} {scores[k]}" for k in keys))


if __name__ == "__main__":
    main()
