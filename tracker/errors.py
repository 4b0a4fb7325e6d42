"""The small, named hierarchy of errors the tracker raises on purpose.

The CLI turns any `TrackerError` into one line on stderr and a non-zero exit;
anything else is a bug and keeps its traceback.
"""


class TrackerError(Exception):
    """Base of every error the tracker reports to a user as one clear line."""

    exit_code = 1


class ConfigError(TrackerError):
    """The configuration file is missing, unreadable, or has a wrong key, type or value."""

    exit_code = 2


class InputError(TrackerError):
    """An input given on the command line (a path, a URL, a date) cannot be used."""

    exit_code = 2


class FetchError(TrackerError):
    """A feed could not be fetched over HTTP; `kind` names the failure for storage."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


class ParseError(TrackerError):
    """Bytes that should be a feed are not one we can read."""


class StoreError(TrackerError):
    """The database cannot be reached or is not at the schema this version needs."""


class BlockedAddressError(FetchError):
    """A request (or a redirect) would reach a loopback, private, link-local or other non-public address."""

    def __init__(self, message: str) -> None:
        super().__init__("blocked_address", message)
