"""`tracker demo`: the simulated network, live or written as a sample archive."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from tracker.answers.output import counted
from tracker.cli.base import main, out_path
from tracker.errors import EXIT_FAILURES
from tracker.terminal import echo


@main.command()
@click.option("--seconds-per-step", type=click.FloatRange(min=2.0), default=8.0, show_default=True,
              help="Real seconds per step of the simulated network (14 steps); at least 2, the demo's polling interval.")
@click.option("--database", type=click.Path(dir_okay=False, path_type=Path), help="Keep the demo's SQLite database at this path.")
@click.option("--write-sample", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Instead of running the demo, write its whole run as a WARC archive for `tracker ingest`.")
def demo(seconds_per_step: float, database: Path | None, write_sample: Path | None) -> None:
    """Watch the tracker discover republications in a simulated network (offline, ~2 minutes).

    \b
    Examples:
      tracker demo
      tracker demo --write-sample demo-network.warc.gz && tracker ingest demo-network.warc.gz
    """
    out_path(database, "--database")
    if write_sample is not None:
        out_path(write_sample, "--write-sample")
        from tracker.demo.sample import write_sample_archive

        summary = write_sample_archive(write_sample)
        echo(f"wrote {write_sample}: {counted(summary.responses + summary.revisits, 'capture')} of {counted(summary.feeds, 'feed')} "
             f"and {counted(summary.pages, 'article page')} ({summary.responses} responses, {summary.revisits} revisits)")
        return
    from tracker.demo.live import run_demo

    found = run_demo(seconds_per_step, echo, database)
    sys.exit(0 if found else EXIT_FAILURES)
