"""`ingest --workers N`: every feed given to one of N `tracker ingest --share I/N` processes.

The feeds are planned by their captures (`tracker.ingest.archives.plan_shares`; a stable hash of
the feed URL for a feed the plan does not name); each process reads every file, keeps its share,
ingests it through the normal pipeline and prints its report as one JSON line, which the parent
sums. Needs PostgreSQL: a SQLite database has one writer.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from tracker.children import child_env, tracker_command
from tracker.errors import EXIT_INTERRUPTED, InputError
from tracker.model import IngestReport


def share_of(feed_url: str, shares: int) -> int:
    """Which of `shares` processes ingests this feed's captures (stable across runs and machines)."""
    return zlib.crc32(feed_url.encode("utf-8", "surrogatepass")) % shares


def parse_share(value: str) -> tuple[int, int]:
    """`I/N` (0 ≤ I < N) as (I, N)."""
    index, _, count = value.partition("/")
    if not (index.isdigit() and count.isdigit()) or not 0 <= int(index) < int(count):
        raise InputError(f"--share {value!r}: expected I/N with 0 <= I < N")
    return int(index), int(count)


def report_json(report: IngestReport) -> str:
    """A worker's report, as the one line the parent reads."""
    return json.dumps(dataclasses.asdict(report))


@dataclass(frozen=True)
class SharedIngest:
    """What the ingest processes did together."""

    report: IngestReport
    exit_codes: list[int]
    reported: list[bool]  # each process printed its report (one that crashed did not)

    @property
    def interrupted(self) -> bool:
        """Any of them was interrupted (Ctrl-C)."""
        return EXIT_INTERRUPTED in self.exit_codes


def ingest_in_processes(global_args: list[str], ingest_args: list[str], paths: list[Path], count: int) -> SharedIngest:
    """Run `count` `tracker ingest --share I/N` processes over `paths`; their reports summed.

    SIGINT and SIGTERM are passed on to them (each stops between captures, keeping what it
    stored); their own error lines go to this process's stderr as they are.
    """
    processes = [
        subprocess.Popen(
            tracker_command(global_args, "ingest", "--share", f"{i}/{count}", *ingest_args, "--", *map(str, paths)),
            env=child_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, start_new_session=True, text=True,
        )
        for i in range(count)
    ]

    def forward(signum: int, _frame: FrameType | None) -> None:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        outputs = [process.communicate()[0] for process in processes]
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    total = IngestReport()
    reported = []
    for output in outputs:
        reports = [IngestReport(**json.loads(line)) for line in output.splitlines() if line.startswith("{")]
        for report in reports:
            total.add(report)
        reported.append(bool(reports))
    return SharedIngest(total, [process.returncode for process in processes], reported)
