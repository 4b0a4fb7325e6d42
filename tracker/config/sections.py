"""The sections of the configuration file, one pydantic model each, and their limits."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from tracker.redact import feed_url_problem, mask_url

if TYPE_CHECKING:
    from tracker.config import Config


DEFAULT_DATABASE_URL = "sqlite:///db/tracker.sqlite3"
# An OPML subscription list of 100,000 feeds is a few MiB; more is not a subscription list.
OPML_MAX_BYTES = 32 * 2**20
CONFIG_ENV = "TRACKER_CONFIG"
DATABASE_ENV = "TRACKER_DATABASE_URL"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class DatabaseConfig(_Strict):
    """`[database]`: where the provenance database lives (any SQLAlchemy URL)."""

    url: str = DEFAULT_DATABASE_URL


MAX_FEED_URL = 2000
# Bounds on spans of time: a year for intervals, back-offs and caches, an hour for one
# request. Larger ones are no setting anyone means (10**12 seconds, inf) and overflow the
# dates they are added to, an internal error in the middle of a poll.
YEAR_SECONDS = 366 * 86400
HOUR_SECONDS = 3600


class FeedConfig(_Strict):
    """One `[[feeds]]` entry (or one feed of an OPML file): the feed URL and, optionally,
    who publishes it, its title and its tags.

    `url` is the feed's identity with any password masked (tracker.redact); the URL as
    configured, credentials and all, is `fetch_url`, for the request alone.
    """

    url: str  # an http(s) URL that names its host (`feed_url_problem`)
    publisher: str | None = Field(default=None, min_length=1)
    title: str | None = Field(default=None, min_length=1)
    site_url: str | None = Field(default=None, min_length=1)
    tags: list[str] = Field(default_factory=list)
    _fetch_url: str | None = PrivateAttr(default=None)

    @field_validator("url")
    @classmethod
    def _short_enough(cls, value: str) -> str:
        # The masked form is what is stored: a one-letter password grows by two characters.
        length = max(len(value), len(mask_url(value)))
        if length > MAX_FEED_URL:
            raise ValueError(f"a feed URL is at most {MAX_FEED_URL} characters; this one has {length}")
        if problem := feed_url_problem(value):
            raise ValueError(f"not a feed URL: {problem}")
        return value

    @field_validator("tags")
    @classmethod
    def _tag_paths(cls, tags: list[str]) -> list[str]:
        # A tag is a path of folders, written to OPML as outlines and in `category`, which
        # separates tags by commas: "News//Asia " is "News/Asia", and "x,y" would come back as two.
        paths = []
        for tag in tags:
            if "," in tag:
                raise ValueError(f"a tag cannot hold ',' (OPML's category separates tags by it): {tag!r}; give two tags")
            path = "/".join(part.strip() for part in tag.split("/") if part.strip())
            if not path:
                raise ValueError(f"a tag names at least one folder: {tag!r}")
            paths.append(path)
        return list(dict.fromkeys(paths))

    @model_validator(mode="after")
    def _hide_credentials(self) -> FeedConfig:
        masked = mask_url(self.url)
        if masked != self.url and self._fetch_url is None:
            self._fetch_url = self.url
            object.__setattr__(self, "url", masked)  # frozen: this is its one assignment
        return self

    @property
    def fetch_url(self) -> str:
        """The URL to request, with the credentials the config gives."""
        return self._fetch_url or self.url
    # Whether an entry's linked page stands for its text: "auto" when the feed carries a
    # summary only (tracker.reader.pages.use_page), "always", or "never".
    pages: Literal["auto", "always", "never"] = "auto"
    # Off, the daemon fetches this feed's article pages without asking the site's robots.txt
    # (for a site that allowed it otherwise, or one's own).
    robots: bool = True


class OpmlConfig(_Strict):
    """One `[[opml]]` entry: an OPML subscription list, its path relative to the config file."""

    path: str = Field(min_length=1)


class DetectionConfig(_Strict):
    """`[detection]`: how texts are fingerprinted and when two items are one story."""

    num_perm: int = Field(default=128, ge=16, le=1024)
    shingle_size: int = Field(default=5, ge=1, le=12)
    lsh_bands: int = Field(default=64, ge=1)
    lsh_rows: int = Field(default=2, ge=1)
    min_jaccard: float = Field(default=0.5, gt=0.0, le=1.0)
    min_containment: float = Field(default=0.8, gt=0.0, le=1.0)
    rewrite_min_jaccard: float = Field(default=0.3, gt=0.0, le=1.0)
    rewrite_min_containment: float = Field(default=0.6, gt=0.0, le=1.0)
    min_shared_shingles: int = Field(default=8, ge=1)
    boilerplate_min_items: int = Field(default=3, ge=2)
    claim_tolerance_seconds: int = Field(default=900, ge=0, le=YEAR_SECONDS)

    @model_validator(mode="after")
    def _bands_fit(self) -> DetectionConfig:
        if self.lsh_bands * self.lsh_rows > self.num_perm:
            raise ValueError(
                f"lsh_bands × lsh_rows ({self.lsh_bands} × {self.lsh_rows}) exceeds num_perm ({self.num_perm})"
            )
        return self


class PollingConfig(_Strict):
    """`[polling]`: how the daemon fetches feeds (HTTP done the way feed readers do it)."""

    user_agent: str = Field(default="tracker/0.1 (feed provenance tracker)", min_length=1, max_length=500, pattern=r"^[\x20-\x7e]+$")
    # Threads that fetch feeds. `workers`, its first name, is still read: "workers" now means
    # processes only (`run --workers N`, `ingest --workers N`).
    fetch_threads: int = Field(default=8, ge=1, le=256, validation_alias=AliasChoices("fetch_threads", "workers"))
    per_host: int = Field(default=2, ge=1, le=64)
    dispatch_seconds: float = Field(default=5.0, gt=0, le=3600)
    default_interval_seconds: int = Field(default=1800, ge=1, le=YEAR_SECONDS)
    min_interval_seconds: int = Field(default=300, ge=1, le=YEAR_SECONDS)
    max_interval_seconds: int = Field(default=86400, ge=1, le=YEAR_SECONDS)
    error_backoff_seconds: int = Field(default=300, ge=1, le=YEAR_SECONDS)
    max_backoff_seconds: int = Field(default=6 * 3600, ge=1, le=YEAR_SECONDS)
    connect_timeout: float = Field(default=10.0, gt=0, le=HOUR_SECONDS)
    read_timeout: float = Field(default=30.0, gt=0, le=HOUR_SECONDS)
    total_timeout: float = Field(default=60.0, gt=0, le=HOUR_SECONDS)
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    max_redirects: int = Field(default=5, ge=0, le=30)
    # A claimed feed's lease lasts total_timeout plus this: long enough for the fetch and
    # the store, short enough that a dead worker's feeds are soon polled by another.
    lease_margin_seconds: float = Field(default=60.0, gt=0, le=3600)
    # Off, a feed or a redirect reaching loopback/private/link-local addresses is refused.
    allow_private_addresses: bool = False

    @property
    def lease_seconds(self) -> float:
        """How long a worker's claim on a feed holds before another worker may take it."""
        return self.total_timeout + self.lease_margin_seconds

    @model_validator(mode="after")
    def _bounds(self) -> PollingConfig:
        if self.min_interval_seconds > self.max_interval_seconds:
            raise ValueError("min_interval_seconds is larger than max_interval_seconds")
        return self


class PagesConfig(_Strict):
    """`[pages]`: how the daemon fetches items' article pages (tracker.daemon.pagefetch), beside and
    never in the way of feed polling. Timeouts, User-Agent and private addresses are `[polling]`'s."""

    fetch: bool = True
    fetch_threads: int = Field(default=2, ge=1, le=64, validation_alias=AliasChoices("fetch_threads", "workers"))
    host_delay_seconds: float = Field(default=5.0, ge=0, le=3600)
    max_body_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, le=5 * 1024 * 1024)
    robots_cache_seconds: int = Field(default=86400, ge=60, le=YEAR_SECONDS)
    # Pages of items first seen longer ago are not fetched (an ingested archive's years of items).
    max_age_hours: float = Field(default=48.0, gt=0, le=YEAR_SECONDS / 3600)
    # A page fetched is asked again (conditionally) this long after, while its item is young; 0: never.
    revisit_hours: float = Field(default=24.0, ge=0, le=YEAR_SECONDS / 3600)
    refill_seconds: float = Field(default=10.0, gt=0, le=3600)
    queue: int = Field(default=200, ge=1, le=100_000)


class ArchiveConfig(_Strict):
    """`[archive]`: keep every capture as evidence in rolling WARC files (off unless `dir` is set)."""

    dir: str | None = None
    max_file_mb: int = Field(default=100, ge=1)


class LogConfig(_Strict):
    """`[log]`: one line per event, human-readable or JSON."""

    format: Literal["text", "json"] = "text"
    level: Literal["debug", "info", "warning", "error"] = "info"


class StatusConfig(_Strict):
    """`[status]`: when `tracker status` reports the tracker unhealthy (a non-zero exit)."""

    max_failing_share: float = Field(default=0.5, ge=0.0, le=1.0)


class AlertConfig(_Strict):
    """One `[[alerts]]` entry: what to watch and where to send a message per republication.

    A copy is reported when its parent, or any item up its chain to the original, is of a
    watched publisher or has a URL under a watched prefix (`any = true`: every copy).
    """

    name: str = Field(min_length=1, max_length=200, pattern=r"^\S(.*\S)?$")
    publishers: list[str] = Field(default_factory=list)
    url_prefixes: list[str] = Field(default_factory=list)
    any: bool = False
    webhook: str | None = Field(default=None, pattern=r"^https?://\S+$")
    file: str | None = Field(default=None, min_length=1)
    headers: dict[str, str] = Field(default_factory=dict)
    secret: str | None = Field(default=None, min_length=1)
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    retry_seconds: float = Field(default=30.0, gt=0, le=YEAR_SECONDS)
    max_retry_seconds: float = Field(default=3600.0, gt=0, le=YEAR_SECONDS)
    max_attempts: int = Field(default=30, ge=1)

    @model_validator(mode="after")
    def _watch_and_destination(self) -> AlertConfig:
        if (self.webhook is None) == (self.file is None):
            raise ValueError(f"alert {self.name!r}: give exactly one of webhook or file")
        if not (self.any or self.publishers or self.url_prefixes):
            raise ValueError(f"alert {self.name!r}: watch something: publishers, url_prefixes, or any = true")
        if self.any and (self.publishers or self.url_prefixes):
            raise ValueError(f"alert {self.name!r}: any = true watches everything; drop publishers and url_prefixes")
        if (self.headers or self.secret) and self.webhook is None:
            raise ValueError(f"alert {self.name!r}: headers and secret apply to webhooks only")
        if self.retry_seconds > self.max_retry_seconds:
            raise ValueError(f"alert {self.name!r}: retry_seconds is larger than max_retry_seconds")
        return self


_LISTEN = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.%\w]+)\]|(?P<host>[^:\s\[\]]+)):(?P<port>\d{1,5})$")


class HttpConfig(_Strict):
    """`[http]`: the daemon's `/healthz` and `/metrics` endpoints (off unless `listen` is set)."""

    listen: str | None = None
    health_timeout_seconds: float = Field(default=2.0, gt=0, le=60)
    health_cache_seconds: float = Field(default=1.5, ge=0, le=60)

    @field_validator("listen")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None:
            match = _LISTEN.match(value)
            if not match or int(match["port"]) > 65535:
                raise ValueError(f'{value!r} is not HOST:PORT (e.g. "127.0.0.1:9180", "[::1]:9180", "0.0.0.0:9180")')
        return value

    @property
    def address(self) -> tuple[str, int] | None:
        """(host, port) to listen on, or None when the endpoints are off; port 0 picks a free one."""
        if self.listen is None:
            return None
        match = _LISTEN.match(self.listen)
        assert match is not None  # validated above
        return match["v6"] or match["host"], int(match["port"])

def opml_file(config: Config, path: Path | None, entry: OpmlConfig) -> Path:
    """Where an `[[opml]]` file is: its path relative to the config file's folder."""
    base = path.parent if path else Path.cwd()
    return (base / Path(entry.path).expanduser()).resolve()
