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
import tempfile
from collections.abc import Sequence
from pathlib import Path

from tracker.errors import ConfigError, InputError
from tracker.opml import Subscription, read_opml

log = logging.getLogger(__name__)

CACHE_ENV = "TRACKER_CACHE_DIR"
# Bump when what a cached list holds changes: an old cache is then a miss, not a misreading.
_FORMAT = 1


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


def _cached(file: Path, key: list[object]) -> list[Subscription] | None:
    try:
        data = json.loads(_cache_file(file).read_bytes())
        if data.get("key") != key:
            return None
        return [Subscription(url, title, publisher, html_url, tuple(tags)) for url, title, publisher, html_url, tags in data["feeds"]]
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def _store(file: Path, key: list[object], subscriptions: Sequence[Subscription]) -> None:
    target = _cache_file(file)
    feeds = [[s.url, s.title, s.publisher, s.html_url, list(s.tags)] for s in subscriptions]
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=target.parent, suffix=".tmp", delete=False, encoding="utf-8") as out:
            json.dump({"key": key, "feeds": feeds}, out, ensure_ascii=False, separators=(",", ":"))
        os.replace(out.name, target)  # atomic: a concurrent reader sees the old cache or the new
    except OSError as error:
        log.debug("opml cache not written", extra={"path": str(target), "error": str(error)})


def read_subscriptions(file: Path, where: str, max_bytes: int) -> list[Subscription]:
    """The feeds of one OPML file, from the cache when the file has not changed since.

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
    _store(file, key, subscriptions)
    return subscriptions
