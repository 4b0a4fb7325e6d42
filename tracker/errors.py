"""The small, named hierarchy of errors the tracker raises on purpose, and exit codes.

The CLI turns any `TrackerError` into one line on stderr and its documented exit
status (README, "Exit status"); operational failures of the machine itself (a full
disk, a lost database connection) are turned into one line too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tracker.model import IngestReport

EXIT_OK = 0
EXIT_FAILURES = 1       # the command ran, but some captures, records or feeds failed
EXIT_USAGE = 2          # bad usage, input or configuration
EXIT_STORE = 3          # the database or the disk is unavailable, full or refused access
EXIT_INTERNAL = 70      # a bug in the tracker (EX_SOFTWARE); -vv shows the traceback
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)


class TrackerError(Exception):
    """Base of every error the tracker reports to a user as one clear line."""

    exit_code = EXIT_FAILURES


class ConfigError(TrackerError):
    """The configuration file is missing, unreadable, or has a wrong key, type or value."""

    exit_code = EXIT_USAGE


class InputError(TrackerError):
    """An input given on the command line (a path, a URL, a date) cannot be used."""

    exit_code = EXIT_USAGE


class FetchError(TrackerError):
    """A feed could not be fetched over HTTP; `kind` names the failure for storage."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


class PageError(TrackerError):
    """An article page that is not read (too large, not HTML, unreadable); `kind` names why for storage."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


class ParseError(TrackerError):
    """Bytes that should be a feed are not one we can read."""


class StoreError(TrackerError):
    """The database cannot be reached or is not at the schema this version needs."""

    exit_code = EXIT_STORE


class MissingDatabaseError(StoreError):
    """A read-only command was pointed at a database that does not exist (or holds no tracker data)."""


class SchemaTooNewError(StoreError):
    """The database was upgraded by a newer tracker, to a schema revision this one does not know."""


class SchemaOutdatedError(StoreError):
    """A read-only command met a database not yet upgraded to this tracker's schema (only writers upgrade)."""


class AlreadyRunningError(TrackerError):
    """A second polling daemon was started on a SQLite database that already has one."""

    exit_code = EXIT_FAILURES


class LeaseLostError(TrackerError):
    """A polling worker's lease on a feed was taken by another worker: its poll is dropped."""


class IngestInterrupted(TrackerError):
    """Ctrl-C during an ingest; `report` is what was stored before it (all committed)."""

    exit_code = EXIT_INTERRUPTED

    def __init__(self, report: IngestReport) -> None:
        super().__init__("interrupted")
        self.report = report

class BlockedAddressError(FetchError):
    """A request (or a redirect) would reach a loopback, private, link-local or other non-public address."""

    def __init__(self, message: str) -> None:
        super().__init__("blocked_address", message)
