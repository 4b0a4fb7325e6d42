"""What a fetch is asked to do and what it reports: the policy, the stored validators,
the result (success or failure as data), and the scratch of one fetch in progress."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tracker.errors import FetchError
from tracker.redact import mask_credentials, mask_url

ERROR_KINDS = ("timeout", "connection", "tls", "http_status", "too_large", "redirect_loop",
               "too_many_redirects", "invalid_url", "rate_limited", "gone", "blocked_address",
               "unwanted_type")

ACCEPT = ("application/rss+xml, application/atom+xml, application/feed+json, "
          "application/xml;q=0.9, text/xml;q=0.8, */*;q=0.5")

Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class FetchPolicy:
    """Limits and identity for every request a `Fetcher` makes."""

    user_agent: str = "tracker/0.1 (+https://example.invalid/tracker)"
    connect_timeout: float = 10.0
    read_timeout: float = 30.0        # max silence between bytes
    total_timeout: float = 60.0       # whole request incl. body; defeats servers that drip bytes
    max_body_bytes: int = 10 * 1024 * 1024   # counted AFTER decompression (gzip/deflate/br bombs)
    max_redirects: int = 5
    allow_private_addresses: bool = False   # loopback, RFC 1918, link-local… (tests, intranets)
    accept: str = ACCEPT
    # Media types a 2xx body may have (empty: any). Another type is refused before its body
    # is read; a response without a Content-Type is read (the caller sniffs it).
    content_types: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        timeouts = (self.connect_timeout, self.read_timeout, self.total_timeout)
        # `0 < t < inf` is also False for NaN.
        if not all(isinstance(t, (int, float)) and 0 < t < math.inf for t in timeouts):
            raise FetchError("invalid_policy", f"timeouts must be positive numbers, got {timeouts}")
        if self.max_body_bytes <= 0 or self.max_redirects < 0:
            raise FetchError("invalid_policy", "max_body_bytes must be > 0 and max_redirects >= 0")


@dataclass(frozen=True)
class Validators:
    """The cache validators the previous poll stored on the feed row."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class FetchResult:
    """Everything one fetch learned, success or failure; `error_kind` says which.

    `etag`/`last_modified` are always safe to store: the new ones after a body or a 304,
    the ones passed in otherwise. `headers` are latin-1 decoded, so they re-encode to the
    exact bytes received.
    """

    requested_url: str
    final_url: str                  # after redirects
    fetched_at: datetime            # UTC, when the request started
    duration_s: float
    status: int | None              # None when no HTTP response arrived at all
    body: bytes | None              # decoded body on 2xx; None otherwise
    content_type: str | None
    etag: str | None
    last_modified: str | None
    not_modified: bool              # 304
    permanent_redirect: str | None  # new URL to store when every hop was 301/308
    gone: bool                      # 410: the caller retires the feed
    retry_after_s: float | None     # on 429/503, >= 0
    cache_max_age_s: float | None   # Cache-Control max-age or s-maxage; None if no-cache
    expires_at: datetime | None
    error_kind: str | None          # None on success/304; else one of ERROR_KINDS
    error_message: str | None
    bytes_read: int                 # body bytes after decompression
    headers: Headers                # final response headers as received
    redirects: tuple[tuple[str, int, str], ...] = ()  # (url, status, location) of each hop followed

    @property
    def ok(self) -> bool:
        """True for a 2xx response with its body, or a 304 Not Modified."""
        if self.error_kind is not None:
            return False
        return self.not_modified or (self.status is not None and 200 <= self.status < 300
                                     and self.body is not None)


@dataclass
class Progress:
    """Mutable scratch for one fetch, so a failure mid-way still reports what was seen."""

    requested_url: str
    final_url: str
    validators: Validators
    fetched_at: datetime
    started: float
    hops: list[int] = field(default_factory=list)
    chain: list[tuple[str, int, str]] = field(default_factory=list)
    status: int | None = None
    headers: Headers = ()
    bytes_read: int = 0

    def result(self, **fields: Any) -> FetchResult:
        """Freeze what was seen into a FetchResult; `fields` override the defaults."""
        values: dict[str, Any] = dict(
            requested_url=self.requested_url, final_url=self.final_url,
            fetched_at=self.fetched_at, duration_s=time.monotonic() - self.started,
            status=self.status, body=None, content_type=None,
            # Unless a body or a 304 was obtained, hand back the old validators: storing
            # the ETag of a body we failed to read would turn the next poll into a 304
            # and silently lose that content.
            etag=self.validators.etag, last_modified=self.validators.last_modified,
            not_modified=False, permanent_redirect=None, gone=False, retry_after_s=None,
            cache_max_age_s=None, expires_at=None, error_kind=None, error_message=None,
            bytes_read=self.bytes_read, headers=self.headers, redirects=tuple(self.chain))
        values.update(fields)
        # A result is logged, stored and archived: the URL's password stays in the request.
        for key in ("requested_url", "final_url", "permanent_redirect"):
            if values[key]:
                values[key] = mask_url(values[key])
        if values["error_message"]:
            values["error_message"] = mask_credentials(values["error_message"])
        return FetchResult(**values)
