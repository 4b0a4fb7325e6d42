"""The TOML configuration file: which database, which feeds, how detection is tuned.

The file is chosen by `--config`, else the TRACKER_CONFIG environment variable, else
`tracker.toml` in the working directory if it exists; with none of those the defaults
below apply (SQLite under `db/`, no feeds). TRACKER_DATABASE_URL overrides
`[database] url` so that one config can be pointed at another database.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tracker.errors import ConfigError

DEFAULT_DATABASE_URL = "sqlite:///db/tracker.sqlite3"
CONFIG_ENV = "TRACKER_CONFIG"
DATABASE_ENV = "TRACKER_DATABASE_URL"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class DatabaseConfig(_Strict):
    """`[database]`: where the provenance database lives (any SQLAlchemy URL)."""

    url: str = DEFAULT_DATABASE_URL


class FeedConfig(_Strict):
    """One `[[feeds]]` entry: the feed URL and, optionally, who publishes it."""

    url: str = Field(pattern=r"^https?://\S+$")
    publisher: str | None = Field(default=None, min_length=1)


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
    claim_tolerance_seconds: int = Field(default=900, ge=0)

    @model_validator(mode="after")
    def _bands_fit(self) -> DetectionConfig:
        if self.lsh_bands * self.lsh_rows > self.num_perm:
            raise ValueError(
                f"lsh_bands × lsh_rows ({self.lsh_bands} × {self.lsh_rows}) exceeds num_perm ({self.num_perm})"
            )
        return self


class PollingConfig(_Strict):
    """`[polling]`: how the daemon fetches feeds (HTTP done the way feed readers do it)."""

    user_agent: str = Field(default="tracker/0.1 (feed provenance tracker)", min_length=1)
    workers: int = Field(default=8, ge=1, le=256)
    per_host: int = Field(default=2, ge=1, le=64)
    dispatch_seconds: float = Field(default=5.0, gt=0, le=3600)
    default_interval_seconds: int = Field(default=1800, ge=1)
    min_interval_seconds: int = Field(default=300, ge=1)
    max_interval_seconds: int = Field(default=86400, ge=1)
    error_backoff_seconds: int = Field(default=300, ge=1)
    max_backoff_seconds: int = Field(default=6 * 3600, ge=1)
    connect_timeout: float = Field(default=10.0, gt=0)
    read_timeout: float = Field(default=30.0, gt=0)
    total_timeout: float = Field(default=60.0, gt=0)
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    max_redirects: int = Field(default=5, ge=0, le=30)

    @model_validator(mode="after")
    def _bounds(self) -> PollingConfig:
        if self.min_interval_seconds > self.max_interval_seconds:
            raise ValueError("min_interval_seconds is larger than max_interval_seconds")
        return self


class ArchiveConfig(_Strict):
    """`[archive]`: keep every capture as evidence in rolling WARC files (off unless `dir` is set)."""

    dir: str | None = None
    max_file_mb: int = Field(default=100, ge=1)


class LogConfig(_Strict):
    """`[log]`: one line per event, human-readable or JSON."""

    format: Literal["text", "json"] = "text"
    level: Literal["debug", "info", "warning", "error"] = "info"


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


class Config(_Strict):
    """The whole configuration file."""

    database: DatabaseConfig = DatabaseConfig()
    detection: DetectionConfig = DetectionConfig()
    polling: PollingConfig = PollingConfig()
    archive: ArchiveConfig = ArchiveConfig()
    log: LogConfig = LogConfig()
    http: HttpConfig = HttpConfig()
    feeds: list[FeedConfig] = Field(default_factory=list)
    path: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _unique_feeds(self) -> Config:
        seen: set[str] = set()
        for i, feed in enumerate(self.feeds):
            if feed.url in seen:
                raise ValueError(f"feeds[{i}].url {feed.url!r} is listed twice")
            seen.add(feed.url)
        return self


def _describe(error: ValidationError, path: Path | None) -> str:
    first = error.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "(top level)"
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown key"
    where = f"{path}: " if path else ""
    return f"{where}{key}: {message}"


def parse_config(data: dict[str, Any], path: Path | None = None) -> Config:
    """Validate an already-loaded TOML mapping; raise ConfigError naming the bad key."""
    try:
        config = Config.model_validate({**data, "path": path} if path else data)
    except ValidationError as error:
        raise ConfigError(_describe(error, path)) from None
    override = os.environ.get(DATABASE_ENV)
    if override:
        config = config.model_copy(update={"database": DatabaseConfig(url=override)})
    return config


def config_path(explicit: str | os.PathLike[str] | None) -> Path | None:
    """Which file to read: the explicit one, else $TRACKER_CONFIG, else ./tracker.toml if present."""
    if explicit:
        return Path(explicit)
    from_env = os.environ.get(CONFIG_ENV)
    if from_env:
        return Path(from_env)
    local = Path("tracker.toml")
    return local if local.is_file() else None


def load_config(explicit: str | os.PathLike[str] | None = None) -> Config:
    """Read and validate the configuration file (see the module docstring for which)."""
    path = config_path(explicit)
    if path is None:
        return parse_config({})
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise ConfigError(f"{path}: cannot read config file ({error.strerror})") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: not valid TOML ({error})") from None
    return parse_config(data, path)
