"""`[[opml]]` subscription lists as config feeds, read when they change.

Parsing a subscription list of 100,000 outlines takes seconds, and most commands never
need it (`status`, `stats` and the queries read the database only): the config reads an
OPML file when its feeds are first asked for, and then from a cache of the parsed list
keyed by the file's path, size, modification time and SHA-256. The cache lives under
`$XDG_CACHE_HOME/tracker/opml` (else `~/.cache/tracker/opml`; `TRACKER_CACHE_DIR`
overrides); a cache that cannot be written or read is only a slower start.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pydantic import TypeAdapter, ValidationError

from tracker.addresses import local_host_problem
from tracker.config.opml import Subscription, read_opml
from tracker.config.sections import OPML_MAX_BYTES, FeedConfig, opml_file
from tracker.errors import ConfigError, InputError
from tracker.redact import mask_url

if TYPE_CHECKING:
    from tracker.config import Config

log = logging.getLogger(__name__)

CACHE_ENV = "TRACKER_CACHE_DIR"
# Bump when what a cached list holds changes: an old cache is then a miss, not a misreading.
_FORMAT = 2


@dataclass
class SubscriptionList:
    """The feeds of one OPML file, and what is known of them without asking the network."""

    feeds: list[Subscription]
    # Read from the cache: its feeds passed the config's validation when it was written.
    cached: bool
    # Feed URL → why its host is local (a loopback name, a private literal address).
    local: dict[str, str] = field(default_factory=dict)
    file: Path | None = None
    key: list[object] = field(default_factory=list)

    def remember(self) -> None:
        """Cache a freshly parsed list (once the config accepted its feeds)."""
        if not self.cached and self.file is not None:
            _store(self.file, self.key, self)


# The host of an http(s) URL without brackets (IPv6) or odd characters, and the hosts that
# could be a literal address in some spelling ("127.1", "0x7f.1"): only those need asking.
_PLAIN_HOST = re.compile(r"https?://(?:[^@/?#]*@)?([^:/?#\[\]]*)(?:[:/?#]|$)", re.IGNORECASE)
_MAYBE_LITERAL = re.compile(r"[0-9a-fx.]*")


def _local(url: str) -> str | None:
    """`local_host_problem` of a URL's host; a plain DNS name (most of a list) is answered at once."""
    plain = _PLAIN_HOST.match(url)
    if plain:
        host = plain[1].lower().rstrip(".")
        if not _MAYBE_LITERAL.fullmatch(host) and host != "localhost" and not host.endswith(".localhost"):
            return None
    try:
        return local_host_problem(urlsplit(url).hostname or "")
    except ValueError:
        return None  # not a URL at all: validation names it


def cache_dir() -> Path:
    """Where parsed subscription lists are kept."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser() / "opml"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "tracker" / "opml"


def _key(file: Path, body: bytes) -> list[object]:
    stat = file.stat()
    return [_FORMAT, str(file), stat.st_size, stat.st_mtime_ns, hashlib.sha256(body).hexdigest()]


def _cache_file(file: Path) -> Path:
    return cache_dir() / (hashlib.sha256(str(file).encode()).hexdigest()[:32] + ".json")


def _cached(file: Path, key: list[object]) -> SubscriptionList | None:
    """The cached list of `file` under `key`, or None (a miss) when there is none, it is
    unreadable, or someone else could have written it: the cache is believed without
    validating again, so a file another user owns or may write would add feeds."""
    try:
        with _cache_file(file).open("rb") as handle:
            stat = os.fstat(handle.fileno())
            if stat.st_uid != os.geteuid() or stat.st_mode & 0o022:
                return None
            data = json.loads(handle.read())
        if data.get("key") != key:
            return None
        feeds = [Subscription(url, title, publisher, html_url, tuple(tags)) for url, title, publisher, html_url, tags in data["feeds"]]
        return SubscriptionList(feeds, True, dict(data["local"]))
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def _store(file: Path, key: list[object], found: SubscriptionList) -> None:
    target = _cache_file(file)
    feeds = [[s.url, s.title, s.publisher, s.html_url, list(s.tags)] for s in found.feeds]
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        data = json.dumps({"key": key, "feeds": feeds, "local": found.local}, ensure_ascii=False, separators=(",", ":"))
        with tempfile.NamedTemporaryFile("wb", dir=target.parent, suffix=".tmp", delete=False) as out:
            out.write(data.encode("utf-8"))  # dumps, not dump: dump encodes piecemeal, several times slower
        os.replace(out.name, target)  # atomic: a concurrent reader sees the old cache or the new
    except OSError as error:
        log.debug("opml cache not written", extra={"path": str(target), "error": str(error)})


def read_subscriptions(file: Path, where: str, max_bytes: int) -> SubscriptionList:
    """The feeds of one OPML file, from the cache when the file has not changed since
    (a fresh list is cached by its `remember()`).

    Raises ConfigError (prefixed by `where`, e.g. "tracker.toml: opml[0].path") when the
    file cannot be read, is too large, or is not a subscription list."""
    try:
        if file.exists() and not file.is_file():
            raise ConfigError(f"{where}: {file} is not a regular file")
        with file.open("rb") as handle:  # bounded: a device or a huge file is no subscription list
            body = handle.read(max_bytes + 1)
        if len(body) > max_bytes:
            raise ConfigError(f"{where}: {file} is larger than {max_bytes // 2**20} MiB")
        key = _key(file, body)
    except OSError as error:
        raise ConfigError(f"{where}: cannot read {file} ({error.strerror})") from None
    cached = _cached(file, key)
    if cached is not None:
        return cached
    try:
        subscriptions = read_opml(body, str(file))
    except InputError as error:
        raise ConfigError(f"{where}: {error}") from None
    # Keyed as the feeds will be known: by the URL with its credentials masked.
    local = {mask_url(s.url): problem for s in subscriptions if (problem := _local(s.url))}
    return SubscriptionList(subscriptions, False, local, file, key)


_FEED_LIST = TypeAdapter(list[FeedConfig])


def _opml_feeds(found: SubscriptionList, file: Path, where: str) -> list[FeedConfig]:
    """One OPML file's feeds as FeedConfig: validated (in one call for the whole list), or
    built as they are when they come from the cache, which holds only validated lists."""
    rows = [{"url": s.url, "publisher": s.publisher, "title": s.title, "site_url": s.html_url, "tags": list(s.tags)}
            for s in found.feeds]
    if found.cached:
        # Built without validating again, except a URL with credentials: its validator is
        # what moves the password out of the URL (tracker.redact).
        return [FeedConfig.model_validate(row) if mask_url(row["url"]) != row["url"]
                else FeedConfig.model_construct(**row) for row in rows]
    try:
        feeds = _FEED_LIST.validate_python(rows)
    except ValidationError as error:
        first = error.errors()[0]
        index = first["loc"][0]
        url = rows[index]["url"] if isinstance(index, int) else "?"
        message = ".".join(str(p) for p in first["loc"][1:]) + ": " + first["msg"].removeprefix("Value error, ")
        shown = mask_url(url)
        shown = shown if len(shown) <= 100 else shown[:99] + "…"
        raise ConfigError(f"{where} {file}: feed {shown!r}: {message}") from None
    found.remember()
    return feeds


def with_subscriptions(config: Config, path: Path | None) -> tuple[list[FeedConfig], dict[str, str]]:
    """`[[feeds]]` and the feeds of every `[[opml]]` file as one list, and which OPML feeds
    are on local hosts (URL → why).

    A feed in several places is one feed: its tags are merged, and a title or publisher
    given in `[[feeds]]` (else the first OPML file naming one) wins. Each OPML file is
    parsed only when it changed since it was last parsed (tracker.config.subscriptions), so that
    SIGHUP picks up a change and an unchanged list of 100,000 feeds costs little."""
    merged: dict[str, FeedConfig] = {feed.url: feed for feed in config.listed_feeds}
    local: dict[str, str] = {}
    for i, entry in enumerate(config.opml):
        file = opml_file(config, path, entry)
        where = f"{f'{path}: ' if path else ''}opml[{i}]"
        found = read_subscriptions(file, f"{where}.path", OPML_MAX_BYTES)
        local.update(found.local)
        for feed in _opml_feeds(found, file, where):
            known = merged.get(feed.url)
            if known is not None:
                feed = known.model_copy(update={
                    "publisher": known.publisher or feed.publisher, "title": known.title or feed.title,
                    "site_url": known.site_url or feed.site_url,
                    "tags": sorted(set(known.tags) | set(feed.tags)),
                })
            merged[feed.url] = feed
    return list(merged.values()), local
