"""The TOML configuration file: which database, which feeds, how detection is tuned.

The file is chosen by `--config`, else the TRACKER_CONFIG environment variable, else
`tracker.toml` in the working directory if it exists; with none of those the defaults
below apply (SQLite under `db/`, no feeds). TRACKER_DATABASE_URL overrides
`[database] url` so that one config can be pointed at another database.

Relative paths written in a config file (a SQLite database, the archive folder) are
relative to that file's folder, so a command run from elsewhere opens the same
database; the built-in default and TRACKER_DATABASE_URL are relative to the working
directory.
"""

from __future__ import annotations

import difflib
import os
import tomllib
import typing
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, PrivateAttr, ValidationError, model_validator
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from tracker.addresses import local_host_problem
from tracker.config.sections import (  # noqa: F401 (the sections are part of the config's API)
    CONFIG_ENV,
    DATABASE_ENV,
    DEFAULT_DATABASE_URL,
    MAX_FEED_URL,
    OPML_MAX_BYTES,
    AlertConfig,
    ArchiveConfig,
    DatabaseConfig,
    DetectionConfig,
    FeedConfig,
    HttpConfig,
    LogConfig,
    OpmlConfig,
    PagesConfig,
    PollingConfig,
    StatusConfig,
    _Strict,
    opml_file,
)
from tracker.errors import ConfigError


class Config(_Strict):
    """The whole configuration file."""

    database: DatabaseConfig = DatabaseConfig()
    detection: DetectionConfig = DetectionConfig()
    polling: PollingConfig = PollingConfig()
    pages: PagesConfig = PagesConfig()
    archive: ArchiveConfig = ArchiveConfig()
    log: LogConfig = LogConfig()
    status: StatusConfig = StatusConfig()
    http: HttpConfig = HttpConfig()
    # `[[feeds]]` as written; `feeds` adds those of the `[[opml]]` files, read when first asked for.
    listed_feeds: list[FeedConfig] = Field(default_factory=list, alias="feeds")
    opml: list[OpmlConfig] = Field(default_factory=list)
    alerts: list[AlertConfig] = Field(default_factory=list)
    path: Path | None = Field(default=None, exclude=True)
    _feeds: list[FeedConfig] | None = PrivateAttr(default=None)

    @property
    def feeds(self) -> list[FeedConfig]:
        """`[[feeds]]` and the feeds of every `[[opml]]` file (see `with_subscriptions`).

        The OPML files are read on first use, not when the config is loaded, so that
        commands that never need them do not pay for them; ConfigError when one is bad."""
        if self._feeds is None:
            if not self.opml:
                self._feeds = list(self.listed_feeds)  # checked when the config was loaded
            else:
                from tracker.config.subscriptions import with_subscriptions

                feeds, local = with_subscriptions(self, self.path)
                _check_opml_hosts(self, feeds, local, self.path)
                self._feeds = feeds
        return self._feeds

    @model_validator(mode="after")
    def _unique_feeds(self) -> Config:
        seen: set[str] = set()
        for i, feed in enumerate(self.listed_feeds):
            if feed.url in seen:
                raise ValueError(f"feeds[{i}].url {feed.url!r} is listed twice")
            seen.add(feed.url)
        names: set[str] = set()
        for i, alert in enumerate(self.alerts):
            if alert.name in names:
                raise ValueError(f"alerts[{i}].name {alert.name!r} is used twice")
            names.add(alert.name)
        return self


def _describe(error: ValidationError, path: Path | None) -> str:
    first = error.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "(top level)"
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown key" + _suggestion(first["loc"])
    where = f"{path}: " if path else ""
    return f"{where}{key}: {message}"


def _suggestion(loc: tuple[int | str, ...]) -> str:
    """'; did you mean …?' naming the key of that table closest to the unknown last part of
    `loc` ('' when none is close): `[[feed]]` for `[[feeds]]`, `intervall` for `interval`."""
    model: type[BaseModel] = Config
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = next((f for name, f in model.model_fields.items() if part in (name, f.alias)), None)
        inner = _model_in(field.annotation) if field is not None else None
        if inner is None:
            return ""
        model = inner
    keys = [field.alias or name for name, field in model.model_fields.items() if not field.exclude]
    close = difflib.get_close_matches(str(loc[-1]), keys, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The table type a field holds (itself, or what a list or an optional of it holds)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in typing.get_args(annotation):
        if (found := _model_in(argument)) is not None:
            return found
    return None


def _check_feed_hosts(config: Config, feeds: list[FeedConfig], path: Path | None) -> None:
    """Refuse feeds on local addresses unless [polling] allows them (names are checked when fetched)."""
    if config.polling.allow_private_addresses:
        return
    for i, feed in enumerate(feeds):
        problem = local_host_problem(urlsplit(feed.url).hostname or "")
        if problem:
            where = f"{path}: " if path else ""
            raise ConfigError(f"{where}feeds.{i}.url: {feed.url!r}: {problem}; set [polling] "
                              "allow_private_addresses = true to follow it")


def _check_opml_hosts(config: Config, feeds: list[FeedConfig], local: dict[str, str], path: Path | None) -> None:
    """`_check_feed_hosts` for a list with OPML feeds, whose hosts were judged when the OPML was parsed."""
    if config.polling.allow_private_addresses or not local:
        return
    for i, feed in enumerate(feeds):
        if feed.url in local:
            raise ConfigError(f"{f'{path}: ' if path else ''}feeds.{i}.url: {feed.url!r}: {local[feed.url]}; set [polling] "
                              "allow_private_addresses = true to follow it")


def _sqlite_relative_to(url: str, folder: Path) -> str:
    """A SQLite URL whose relative file path is made relative to `folder` (others unchanged)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return url  # refused with a clear message where the database is opened
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
        return url
    file = Path(database).expanduser()
    if file.is_absolute():
        return url
    return parsed.set(database=str((folder / file).resolve())).render_as_string(hide_password=False)


def _relative_to_file(config: Config, data: dict[str, Any], path: Path) -> Config:
    """Resolve the relative paths the file itself wrote against the file's folder."""
    folder = path.resolve().parent
    update: dict[str, Any] = {}
    if "url" in data.get("database", {}):
        update["database"] = DatabaseConfig(url=_sqlite_relative_to(config.database.url, folder))
    if config.archive.dir and not Path(config.archive.dir).expanduser().is_absolute():
        update["archive"] = config.archive.model_copy(update={"dir": str(folder / config.archive.dir)})
    return config.model_copy(update=update) if update else config


def parse_config(data: dict[str, Any], path: Path | None = None) -> Config:
    """Validate an already-loaded TOML mapping; raise ConfigError naming the bad key.

    With `path` (the file it was read from), relative paths in it are resolved against
    that file's folder.
    """
    try:
        config = Config.model_validate({**data, "path": path} if path else data)
    except ValidationError as error:
        raise ConfigError(_describe(error, path)) from None
    _check_feed_hosts(config, config.listed_feeds, path)
    _check_opml_paths(config, path)
    if path is not None:
        config = _relative_to_file(config, data, path)
    override = os.environ.get(DATABASE_ENV)
    if override:
        config = config.model_copy(update={"database": DatabaseConfig(url=override)})
    return config



def _check_opml_paths(config: Config, path: Path | None) -> None:
    """What can be said of the `[[opml]]` files without reading them: each is a regular file."""
    for i, entry in enumerate(config.opml):
        file = opml_file(config, path, entry)
        where = f"{f'{path}: ' if path else ''}opml[{i}].path"
        if not file.exists():
            raise ConfigError(f"{where}: cannot read {file} (No such file or directory)")
        if not file.is_file():
            raise ConfigError(f"{where}: {file} is not a regular file")


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
    except RecursionError:
        raise ConfigError(f"{path}: not valid TOML (nested too deeply)") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: not valid TOML ({error})") from None
    return parse_config(data, path)
