"""The ingest job: WARC archives and feed files → captures → the pipeline.

Captures are committed one by one as they go, so an interrupted ingest loses nothing
already committed, and running it again skips what is stored.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path

from tqdm import tqdm

from tracker.archive import Skipped, is_warc, read_feed_file, read_warc
from tracker.errors import InputError
from tracker.model import Capture, IngestReport
from tracker.pipeline import Pipeline

log = logging.getLogger(__name__)


def _captures(paths: Sequence[Path], url: str | None, captured_at: datetime | None, skipped: Counter[str]) -> Iterator[Capture]:
    for path in paths:
        if is_warc(path):
            for record in read_warc(path):
                if isinstance(record, Skipped):
                    skipped[record.reason.split(" ")[0]] += 1
                    log.debug("skipped %s: %s", record.where, record.reason)
                    if record.reason.startswith("archive damaged"):
                        log.warning("%s: %s", record.where, record.reason)
                    continue
                yield record
        else:
            if not url:
                raise InputError(f"{path}: a plain feed file needs --url (the feed it was captured from)")
            yield read_feed_file(path, url, captured_at)


def ingest_paths(
    pipeline: Pipeline,
    paths: Sequence[Path],
    url: str | None = None,
    captured_at: datetime | None = None,
    progress: bool = False,
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
        for capture in _captures(paths, url, captured_at, skipped):
            result = pipeline.process(capture)
            for warning in result.warnings:
                log.warning("%s", warning)
            result.warnings.clear()
            report.add(result)
            bar.update(1)
            bar.set_postfix(items=report.new_items, copies=report.republications, refresh=False)
    finally:
        bar.close()
    report.skipped_records = sum(skipped.values())
    if skipped:
        kinds = ", ".join(f"{n} {k}" for k, n in skipped.most_common())
        report.warnings.append(f"skipped {report.skipped_records} records that are not feed captures ({kinds})")
    return report
