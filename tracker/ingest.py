"""The ingest job: WARC archives and feed files → captures → the pipeline.

Captures are committed one by one as they go, so an interrupted ingest loses nothing
already committed, and running it again skips what is stored.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import datetime
from pathlib import Path

from tqdm import tqdm

from tracker.archive import Skipped, is_warc, read_feed_file, read_warc
from tracker.errors import InputError, ParseError
from tracker.model import Capture, IngestReport, ParsedFeed
from tracker.parse import parse_capture_body
from tracker.pipeline import Pipeline

log = logging.getLogger(__name__)


def _captures(paths: Sequence[Path], url: str | None, captured_at: datetime | None, skipped: Counter[str]) -> Iterator[Capture]:
    for path in paths:
        if is_warc(path):
            for record in read_warc(path):
                if isinstance(record, Skipped):
                    skipped[record.kind] += 1
                    log.debug("skipped %s: %s", record.where, record.reason)
                    if record.kind in ("damaged", "broken"):
                        log.warning("%s: %s", record.where, record.reason)
                    continue
                yield record
        else:
            if not url:
                raise InputError(f"{path}: a plain feed file needs --url (the feed it was captured from)")
            yield read_feed_file(path, url, captured_at)


# Parsing is the costliest stage and independent per capture: a worker process parses
# ahead while this one stores. Bounded, so a huge archive is never read ahead whole.
_READ_AHEAD = 64
_MAX_WARNINGS = 20


def parse_ahead(captures: Iterator[Capture], workers: int) -> Iterator[tuple[Capture, ParsedFeed | ParseError | None]]:
    """Captures with their parsed bodies, in order; parsed by `workers` processes (0: inline)."""
    if workers <= 0:
        for capture in captures:
            yield capture, parse_capture_body(capture.body, capture.content_type)
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        pending: deque[tuple[Capture, Future[ParsedFeed | ParseError | None]]] = deque()
        for capture in captures:
            pending.append((capture, pool.submit(parse_capture_body, capture.body, capture.content_type)))
            if len(pending) >= _READ_AHEAD:
                done, future = pending.popleft()
                yield done, future.result()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()


def default_workers() -> int:
    """Parse in one other process when there is a second core, else inline."""
    return 1 if (os.cpu_count() or 1) > 1 else 0


def ingest_paths(
    pipeline: Pipeline,
    paths: Sequence[Path],
    url: str | None = None,
    captured_at: datetime | None = None,
    progress: bool = False,
    workers: int | None = None,
) -> IngestReport:
    """Ingest WARC files and plain feed files; return what was done."""
    for path in paths:
        if not path.exists():
            raise InputError(f"{path}: no such file")
    if url and any(is_warc(p) for p in paths):
        raise InputError("--url applies to plain feed files, not to WARC archives")
    report = IngestReport()
    skipped: Counter[str] = Counter()
    bar = tqdm(unit=" captures", disable=not progress, leave=False, dynamic_ncols=True)
    try:
        def unstored(captures: Iterator[Capture]) -> Iterator[Capture]:
            for capture in captures:
                if pipeline.is_stored(capture):
                    report.skipped_known += 1
                    bar.update(1)
                else:
                    yield capture

        stream = unstored(_captures(paths, url, captured_at, skipped))
        for capture, parsed in parse_ahead(stream, default_workers() if workers is None else workers):
            report.add(pipeline.process(capture, parsed))
            bar.update(1)
            bar.set_postfix(items=report.new_items, copies=report.republications, refresh=False)
    finally:
        bar.close()
    if len(report.warnings) > _MAX_WARNINGS:
        hidden = len(report.warnings) - _MAX_WARNINGS
        report.warnings[_MAX_WARNINGS:] = [f"… and {hidden} more (see the captures table's error column)"]
    report.skipped_records = sum(skipped.values())
    if skipped:
        kinds = ", ".join(f"{n} {k}" for k, n in skipped.most_common())
        report.warnings.append(f"skipped {report.skipped_records} WARC records ({kinds})")
    return report
