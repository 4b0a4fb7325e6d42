"""`tracker status`: the daemon's workers, feeds due and failing, recent findings.

Besides the text, the report says whether the tracker is healthy, so that `status`
can back a health check: the daemon alive (at least one of its workers), and no more
than a set share of the polled feeds failing.

Each worker (a `tracker run` process; several on PostgreSQL) beats a heartbeat row of
its own. A worker is alive while it beats; stale when its beats stopped without it
saying it stopped (hung, or killed on another machine); stopped when it said so, or
when it ran on this machine and its process is gone.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tracker.answers.output import counted, duration
from tracker.config import Config
from tracker.model import FeedState, utcnow
from tracker.redact import mask_credentials, mask_url
from tracker.store import heartbeats
from tracker.store.counts import found_since
from tracker.store.database import describe, open_reader
from tracker.store.feeds import due_count, failing_feeds, state_counts
from tracker.store.pagefetch import failing_pages, failure_kinds, page_states
from tracker.terminal import inline
from tracker.timefmt import when

ALIVE, STALE, STOPPED = "alive", "stale", "stopped"
# Beats may be this late before a worker counts as stale: three dispatch intervals, plus slack.
MISSED_BEATS, SLACK_SECONDS = 3, 5.0
# Silent this long, a worker is taken for dead: stopped, until the workers prune its row (a day).
PRESUMED_DEAD = timedelta(hours=1)


@dataclass(frozen=True)
class WorkerState:
    """One worker as `status` reports it."""

    beat: heartbeats.Beat
    state: str  # ALIVE, STALE or STOPPED
    age_seconds: float
    pid_gone: bool = False
    silent: bool = False

    def line(self) -> str:
        """`alive  host:pid:tag: pid N on host, last heartbeat 2s ago, started 2026-11-30 08:00:00Z`."""
        b = self.beat
        note = " (pid gone)" if self.pid_gone else " (silent for long)" if self.silent else ""
        return (f"  {self.state:<7} {inline(b.name)}: pid {b.pid} on {inline(b.hostname)}{note}, "
                f"last heartbeat {duration(self.age_seconds)} ago, started {when(b.started_at)}")


def worker_state(beat: heartbeats.Beat, now: datetime, hostname: str | None = None) -> WorkerState:
    """Alive, stale or stopped, from the heartbeat and (on this machine) whether its process still runs."""
    age = (now - beat.beat_at).total_seconds()
    if beat.state == "stopped":
        return WorkerState(beat, STOPPED, age)
    here = socket.gethostname() if hostname is None else hostname
    if heartbeats.dead_here(beat, here):
        return WorkerState(beat, STOPPED, age, pid_gone=True)  # killed before it could say so
    if age > PRESUMED_DEAD.total_seconds():
        return WorkerState(beat, STOPPED, age, silent=True)
    fresh = beat.state == "running" and age <= MISSED_BEATS * beat.interval_seconds + SLACK_SECONDS
    return WorkerState(beat, ALIVE if fresh else STALE, age)


@dataclass(frozen=True)
class StatusReport:
    """What `tracker status` prints, and whether it means the tracker is healthy."""

    text: str
    problems: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        """No problem found."""
        return not self.problems


def status_report(config: Config, max_failing_share: float | None = None, require_daemon: bool = True) -> StatusReport:
    """A short report a person can read at a glance, and the problems that make it unhealthy.

    Unhealthy: no worker of the daemon alive (unless `require_daemon` is off), or more than
    `max_failing_share` (default: the config's) of the polled feeds failing.
    """
    share = config.status.max_failing_share if max_failing_share is None else max_failing_share
    sessions = open_reader(config.database.url)
    now = utcnow()
    with sessions() as session:
        workers = [worker_state(beat, now) for beat in heartbeats.workers(session)]
        states, due, failing = state_counts(session), due_count(session, now), failing_feeds(session)
        found = []
        for label, span in (("last hour", timedelta(hours=1)), ("last day", timedelta(days=1))):
            items, copies = found_since(session, now - span)
            found.append(f"{label}: {counted(items, 'new item')}, {counted(copies, 'republication')}")
        pages, page_kinds, page_failures = page_states(session), failure_kinds(session), failing_pages(session, 5)
    lines = [f"database: {describe(config.database.url)}"]
    problems: list[str] = []
    counts = {state: sum(1 for w in workers if w.state == state) for state in (ALIVE, STALE, STOPPED)}
    alive = counts[ALIVE] > 0
    if not workers:
        lines.append("daemon: never started on this database")
    else:
        overall = ALIVE if alive else "not responding" if counts[STALE] else STOPPED
        tally = ", ".join(f"{n} {state}" for state, n in counts.items() if n)
        lines.append(f"daemon: {overall} ({counted(len(workers), 'worker')}: {tally})")
        lines.extend(w.line() for w in workers)
    if require_daemon and not alive:
        problems.append("the daemon is not responding" if counts[STALE] else "the daemon is not running")
    polled = sum(n for state, n in states.items() if state.polled)
    lines.append(f"feeds: {polled} polled ({_tally(states)}), {due} due now, {states[FeedState.GONE]} gone (410 Gone)")
    for feed in failing[:20]:
        next_try = f", next try {when(feed.next_check_at)}" if feed.next_check_at else ""
        lines.append(f"  ✗ {inline(feed.url)}: {inline(feed.last_error_kind)} ×{feed.error_count} — "
                     f"{inline((feed.last_error_message or '')[:120])}{next_try}")
    if len(failing) > 20:
        lines.append(f"  … and {len(failing) - 20} more")
    if polled and len(failing) > share * polled:
        problems.append(f"{len(failing)} of {counted(polled, 'polled feed')} failing (more than {share:.0%})")
    lines.extend(_page_lines(pages, page_kinds, page_failures))
    lines.extend(found)
    return StatusReport("\n".join(lines), problems)


def _tally(states: dict[FeedState, int]) -> str:
    """`3 active, 1 failing, 1 moved`: the polled feeds by state."""
    return ", ".join(f"{states[state]} {state.value}" for state in (FeedState.ACTIVE, FeedState.FAILING, FeedState.MOVED))


def _page_lines(states: dict[str, int], kinds: dict[str, int], failures: list[tuple[str | None, str | None, int, str | None]]) -> list[str]:
    """`pages: …` (article pages of summary-only items) and the latest page failures; nothing when no item wants a page."""
    if not any(states.values()):
        return []
    by_kind = ", ".join(f"{n} {inline(kind)}" for kind, n in sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0])))
    lines = [f"pages: {states['wanted']} wanted, {states['used']} used, {states['not_used']} not used, "
             f"{states['failed']} failing, {states['gone']} given up" + (f" ({by_kind})" if by_kind else "")]
    for url, kind, attempts, message in failures:
        # An item's link is the feed's to write: a password or token in it is masked, as the logs mask it.
        lines.append(f"  ✗ {inline(mask_url(url or '?'))}: {inline(kind or '?')} ×{attempts} — "
                     f"{inline(mask_credentials((message or '')[:120]))}")
    return lines
