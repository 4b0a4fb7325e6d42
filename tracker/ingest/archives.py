"""The ingest job: WARC archives and feed files → captures → the pipeline.

Captures are committed as they go (on SQLite several to a transaction, see
`Pipeline.process_many`), so an interrupted ingest loses nothing already committed, and
running it again skips what is stored. Ctrl-C ends the run after the capture being stored
with `IngestInterrupted`, which carries the report so far.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tqdm import tqdm

from tracker.errors import IngestInterrupted, InputError, ParseError
from tracker.ingest.readahead import parse_and_read
from tracker.ingest.shares import share_of
from tracker.model import Capture, IngestReport, PageCapture, PageRedirect, ParsedFeed
from tracker.pipeline.capture import Pipeline
from tracker.reader.archive import Skipped, is_warc, read_feed_file, read_warc
from tracker.reader.parse import parse_capture_body, parser_process_started
from tracker.redact import feed_url_problem

log = logging.getLogger(__name__)


Page = PageCapture | PageRedirect


def _captures(paths: Sequence[Path], url: str | None, captured_at: datetime | None, skipped: Counter[str],
              empty: list[Path] | None = None) -> Iterator[Capture | Page]:
    """What the files hold, in order (`skipped` counts the records that are not a feed's
    capture or an article page; `empty` gets each archive without a single record)."""
    for path in paths:
        if is_warc(path):
            records = 0
            for record in read_warc(path):
                records += 1
                if isinstance(record, Skipped):
                    _skip(record, skipped)
                    continue
                yield record
            if not records and empty is not None:
                empty.append(path)
        else:
            if not url:
                raise InputError(f"{path}: a plain feed file needs --url (the feed it was captured from)")
            capture = read_feed_file(path, url, captured_at)
            if isinstance(capture, Skipped):
                _skip(capture, skipped)  # a failed capture, like a WARC record too large: the other files go on
                continue
            yield capture


def _skip(record: Skipped, skipped: Counter[str]) -> None:
    """Count a record not ingested; warn of one that failed (not merely one that is no feed)."""
    skipped[record.kind] += 1
    log.debug("skipped %s: %s", record.where, record.reason)
    if record.kind in FAILED_KINDS:
        log.warning("%s: %s", record.where, record.reason)


def plan_shares(paths: Sequence[Path], url: str | None, captured_at: datetime | None, count: int) -> dict[str, int]:
    """Which of `count` processes ingests each feed, balanced by the feeds' captures (the
    largest feed first, each to the least loaded process): a hash alone can leave one
    process with most of the work when there are few feeds."""
    sizes = Counter(c.feed_url for c in _captures(paths, url, captured_at, Counter()) if isinstance(c, Capture))
    load = [0] * count
    plan: dict[str, int] = {}
    for feed, size in sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0])):
        plan[feed] = min(range(count), key=lambda i: (load[i], i))
        load[plan[feed]] += size
    return plan


# Parsing is the costliest stage and independent per capture: a worker process parses
# ahead while this one stores. Bounded in captures and in bytes, so neither a huge archive
# nor a run of large records is ever read ahead whole.
_READ_AHEAD = 64
_READ_AHEAD_BYTES = 16 * 1024 * 1024
# A body this large is parsed here: sent to a parser process it would be held three times
# more (pickled there, unpickled, and its entries pickled back), which costs more than the
# parallelism gains on one capture.
INLINE_PARSE_BYTES = 4 * 1024 * 1024
_MAX_WARNINGS = 20
# Skipped WARC records that mean something went wrong (not merely "not a feed").
FAILED_KINDS = ("damaged", "broken", "too large")
# Captures stored in one transaction where the database allows it (see `Pipeline.process_many`):
# bounded in captures, in entries (a batch's parses are held until it is stored) and in
# time (another writer waits for SQLite's lock meanwhile).
BATCH_CAPTURES = 50
BATCH_ENTRIES = 5000
BATCH_SECONDS = 0.5


@dataclass(frozen=True)
class Progress:
    """How far an ingest has got, for a progress line when no progress bar is shown."""

    captures: int          # captures done: stored now or found already stored
    new_items: int
    errors: int
    seconds: float

    @property
    def rate(self) -> float:
        """Captures per second so far."""
        return self.captures / self.seconds if self.seconds > 0 else 0.0


def parse_ahead(captures: Iterator[Capture], workers: int) -> Iterator[tuple[Capture, ParsedFeed | ParseError | None]]:
    """Captures with their parsed bodies, in order; parsed by `workers` processes (0: inline)."""
    if workers <= 0:
        for capture in captures:
            yield capture, parse_capture_body(capture.body, capture.content_type, capture.captured_at, capture.feed_url)
        return
    context = multiprocessing.get_context("spawn")
    with _sigint_held():
        pool = ProcessPoolExecutor(workers, mp_context=context, initializer=parser_process_started, initargs=(os.getpid(),))
    try:
        pending: deque[tuple[Capture, Future[ParsedFeed | ParseError | None]]] = deque()
        held = 0  # bytes of the bodies pending
        for capture in captures:
            size = len(capture.body or b"")
            if size >= INLINE_PARSE_BYTES:
                # In order: what was read ahead is stored first, then this one.
                while pending:
                    done, future = pending.popleft()
                    yield done, future.result()
                held = 0
                yield capture, parse_capture_body(capture.body, capture.content_type, capture.captured_at, capture.feed_url)
                continue
            with _sigint_held():  # a submit may start a parser process
                future = pool.submit(parse_and_read, capture.body, capture.content_type, capture.captured_at, capture.feed_url)
            pending.append((capture, future))
            held += size
            while pending and (len(pending) >= _READ_AHEAD or held > _READ_AHEAD_BYTES):
                done, future = pending.popleft()
                held -= len(done.body or b"")
                yield done, future.result()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()
    finally:
        # Interrupted or not, parses nobody will store are not waited for.
        pool.shutdown(wait=True, cancel_futures=True)


@contextmanager
def _sigint_held() -> Iterator[None]:
    """Hold Ctrl-C back from this thread meanwhile; one that came is taken at the end.

    A parser process inherits this (its start-up imports take a second, before it can
    ignore Ctrl-C itself): a Ctrl-C then would kill it with a traceback of its own and
    break the pool. The parent still gets it, as soon as the process is started."""
    held = {signal.SIGINT}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def default_workers() -> int:
    """Parse in one other process when there is a second core, else inline."""
    return 1 if (os.cpu_count() or 1) > 1 else 0


class _Run:
    """One ingest's report, progress and stored-capture batches."""

    def __init__(self, pipeline: Pipeline, share: tuple[int, int] | None, progress: bool,
                 on_progress: Callable[[Progress], None] | None, progress_every: float) -> None:
        self.pipeline = pipeline
        self.share = share
        self.report = IngestReport()
        self.skipped: Counter[str] = Counter()
        self.bar = tqdm(unit=" captures", disable=not progress, leave=False, dynamic_ncols=True)
        self.on_progress = on_progress
        self.progress_every = progress_every
        self.started = self.last = time.monotonic()

    def tick(self) -> None:
        self.bar.update(1)
        now = time.monotonic()
        if self.on_progress is not None and now - self.last >= self.progress_every:
            self.last = now
            report = self.report
            self.on_progress(Progress(report.captures + report.skipped_known, report.new_items, report.errors, now - self.started))

    def unstored(self, captures: Iterator[Capture | Page]) -> Iterator[Capture]:
        """The captures to store; pages and redirects are stored on the way (the pipeline
        joins a page to its item whichever of the two arrives first), by one share only."""
        for capture in captures:
            if not isinstance(capture, Capture):
                if self.share is None or self.share[0] == 0:
                    page = self.pipeline.process_page if isinstance(capture, PageCapture) else self.pipeline.process_redirect
                    self.report.add(page(capture))  # type: ignore[arg-type]
                continue
            if self.pipeline.is_stored(capture):
                self.report.skipped_known += 1
                self.tick()
            else:
                yield capture

    def store(self, stream: Iterator[tuple[Capture, ParsedFeed | ParseError | None]], interrupted: threading.Event) -> None:
        """Store the parsed captures in batches; after Ctrl-C no further capture is stored."""
        batch: list[tuple[Capture, ParsedFeed | ParseError | None]] = []
        entries, since = 0, time.monotonic()
        for capture, parsed in stream:
            if interrupted.is_set():
                break
            batch.append((capture, parsed))
            entries += len(parsed.entries) if isinstance(parsed, ParsedFeed) else 0
            if len(batch) >= BATCH_CAPTURES or entries >= BATCH_ENTRIES or time.monotonic() - since >= BATCH_SECONDS:
                self.flush(batch, interrupted)
                batch, entries, since = [], 0, time.monotonic()
        self.flush(batch, interrupted)
        if interrupted.is_set():
            raise KeyboardInterrupt

    def flush(self, batch: list[tuple[Capture, ParsedFeed | ParseError | None]], interrupted: threading.Event) -> None:
        for report in self.pipeline.process_many(batch, interrupted.is_set):
            self.report.add(report)
            self.bar.set_postfix(items=self.report.new_items, copies=self.report.republications, refresh=False)
            self.tick()  # a progress line per capture, as when each had its own transaction


@contextmanager
def _sigint_between_captures() -> Iterator[threading.Event]:
    """Ctrl-C sets the event (taken between batches, so the summary counts exactly what was
    committed); a second Ctrl-C stops at once."""
    interrupted = threading.Event()

    def on_sigint(_signum: int, _frame: object) -> None:
        if interrupted.is_set():
            raise KeyboardInterrupt
        interrupted.set()

    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, on_sigint) if main_thread else None
    try:
        yield interrupted
    finally:
        if main_thread:
            signal.signal(signal.SIGINT, previous)


def ingest_paths(
    pipeline: Pipeline,
    paths: Sequence[Path],
    url: str | None = None,
    captured_at: datetime | None = None,
    progress: bool = False,
    workers: int | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    progress_every: float = 5.0,
    share: tuple[int, int] | None = None,
    plan: Mapping[str, int] | None = None,
) -> IngestReport:
    """Ingest WARC files and plain feed files; return what was done.

    `progress` shows a progress bar; `on_progress` is called every `progress_every`
    seconds instead (for logs, when no terminal watches). Ctrl-C raises
    `IngestInterrupted` with the report of what was stored before it. With `share`
    (I, N), only the captures of the feeds that `plan` gives to share I are ingested (a feed
    it does not name: by a hash of its URL) — one of N processes, `tracker ingest --workers
    N`; skipped records are counted by share 0 alone.
    """
    check_paths(paths, url)
    run = _Run(pipeline, share, progress, on_progress, progress_every)
    empty: list[Path] = []
    captures = _captures(paths, url, captured_at, run.skipped, empty)
    if share is not None:
        index, count = share
        captures = (
            c for c in captures
            if not isinstance(c, Capture) or (plan or {}).get(c.feed_url, share_of(c.feed_url, count)) == index
        )
    warcs = any(is_warc(path) for path in paths)  # else plain feed files only: `check_paths` refuses a mix
    if workers is None:
        # Plain feed files are a capture each: a parser process would cost more to start than to use.
        workers = default_workers() if warcs else 0
    stream = parse_ahead(run.unstored(captures), workers)
    with _sigint_between_captures() as interrupted:
        try:
            run.store(stream, interrupted)
        except KeyboardInterrupt:
            _finish(run.report, run.skipped, empty, share, warcs)
            raise IngestInterrupted(run.report) from None
        finally:
            stream.close()  # stops the parser processes now, not whenever the generator is collected
            run.bar.close()
    if run.report.pages:
        run.report.pages_unmatched = pipeline.unjoined_pages()
    _finish(run.report, run.skipped, empty, share, warcs)
    return run.report


def check_paths(paths: Sequence[Path], url: str | None) -> None:
    """Refuse, before anything is read, files that are missing and a --url that cannot apply."""
    for path in paths:
        if not path.exists():
            raise InputError(f"{path}: no such file")
        if path.is_dir():
            raise InputError(f"{path}: a folder, not a file (give the WARC or feed files in it)")
    if url and (problem := feed_url_problem(url)):
        raise InputError(f"--url: not a feed URL: {problem}")
    if url and any(is_warc(p) for p in paths):
        raise InputError("--url applies to plain feed files, not to WARC archives")
    if not url and (plain := next((p for p in paths if not is_warc(p)), None)) is not None:
        raise InputError(f"{plain}: a plain feed file needs --url (the feed it was captured from)")


def _finish(report: IngestReport, skipped: Counter[str], empty: Sequence[Path], share: tuple[int, int] | None,
            warcs: bool = True) -> None:
    """Cap the warnings and account for the skipped records (of WARC archives, else feed files too
    large to read) and the empty archives."""
    if share is not None and share[0] != 0:
        # Every share reads every record: one of them reports what they all found.
        skipped, empty = Counter(), []
    # An empty archive is not damaged (nothing fails), but ingesting one is most likely a mistake.
    report.warnings.extend(f"{path}: no record in this archive (empty)" for path in empty)
    if len(report.warnings) > _MAX_WARNINGS:
        hidden = len(report.warnings) - _MAX_WARNINGS
        report.warnings[_MAX_WARNINGS:] = [f"… and {hidden} more (see the captures table's error column)"]
    report.skipped_records = sum(skipped.values())
    report.failed_records = sum(skipped[kind] for kind in FAILED_KINDS)
    if skipped:
        kinds = ", ".join(f"{n} {k}" for k, n in skipped.most_common())
        noun = "WARC record" if warcs else "feed file"
        plural = "" if report.skipped_records == 1 else "s"
        report.warnings.append(f"skipped {report.skipped_records} {noun}{plural} ({kinds})")
