"""Credentials never leave the config: feed URLs are shown with their userinfo masked.

A feed behind HTTP basic auth is configured as `https://user:secret@host/feed`. The
tracker knows it as `https://user:***@host/feed` everywhere but in the request itself:
that masked URL is the feed's identity in the database, and the one logs, `status`,
`feeds`, exports and the archive's `WARC-Target-URI` show (as the database password is
shown as `***`). A userinfo without a password (`https://TOKEN@host/`) is usually a
token and is masked whole (`https://***@host/`), as is a token a private feed takes in
its query (`?access_token=***`, `&key=***`: `_SECRET_PARAM`). Changing the password in
the config keeps the feed's identity and history; only the fetcher gets the real URL
back, from the config, through `Credentials.unmask`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

MASK = "***"
# scheme://userinfo@ — the userinfo ends at the authority's last "@" (a password may hold an
# "@" written as is: HTTP clients take "user:p@ss@host" as host "host"), and never holds "/",
# "?", "#" or whitespace, so a path with an "@" in it (https://medium.com/@name/feed) is not
# mistaken for credentials. (A password holding those must be written %2F, %3F, %23: a URL
# with them as they are is refused, `feed_url_problem`.)
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^/?#\s\"'<>]*)@")
# One URL alone: its authority runs to the first "/", "?" or "#", whatever else it holds (a
# quote or a space in a password ends no URL here, as it would in a message).
_URL_USERINFO = re.compile(r"(?i)^([a-z][a-z0-9+.-]*://)([^/?#]*)@")
_AUTHORITY = re.compile(_URL_USERINFO.pattern + r"([^/?#@]*)")  # and the host after it
# A query parameter that carries a secret by its name (private feeds of feed services,
# podcast hosts, CMSs): its value is masked as a password is. The unambiguous words may
# follow a prefix of their own (GitLab's feed_token, x-api-key, X-Amz-Signature); the short
# ones (key, auth, sig, pass) only stand alone, so that sort_key or page_sig stay as written.
_SECRET_PARAM = re.compile(
    r"(?i)([?&](?:(?:[a-z0-9]+[_.-])*(?:token|api[_-]?key|secret|password|signature)"
    r"|access[_-]?token|auth[_-]?token|private[_-]?token|key|passwd|pwd|pass|auth|sig)=)([^&#\s\"'<>]+)"
)


def _masked_param(match: re.Match[str]) -> str:
    return match.group(0) if match.group(2) == MASK else match.group(1) + MASK


def _mask_params(text: str) -> str:
    return _SECRET_PARAM.sub(_masked_param, text) if "=" in text else text


def _masked(match: re.Match[str]) -> str:
    user, colon, password = match.group(2).partition(":")
    # A user without a password ("TOKEN@", "TOKEN:@", as `curl -u token:` writes it) is a token.
    return f"{match.group(1)}{user}:{MASK}@" if colon and password else f"{match.group(1)}{MASK}@"


def mask_credentials(text: str) -> str:
    """`text` (a message quoting URLs) with every URL's userinfo and secret query values
    masked; a URL on its own is masked by `mask_url`, which no character of a password can
    stop short."""
    return _mask_params(_USERINFO.sub(_masked, text) if "@" in text else text)


def mask_url(url: str) -> str:
    """One URL with its userinfo and secret query values masked (as `mask_credentials`
    masks a message's URLs)."""
    return _mask_params(_URL_USERINFO.sub(_masked, url, count=1) if "@" in url else url)


def feed_url_problem(url: str) -> str | None:
    """Why `url` cannot be a feed's URL, in words that never quote it (its userinfo may hold
    a password that the masking cannot find), or None."""
    if not re.match(r"(?i)^https?://", url):
        return "not an http(s) URL"
    if any(c.isspace() for c in url):
        return "it holds whitespace (a password's spaces must be written %20)"
    if any(c in '"<>\\' or not c.isprintable() for c in url):
        return "it holds a character no URL holds as it is (\", <, > or \\: written percent-encoded)"
    return authority_problem(url)


def authority_problem(url: str) -> str | None:
    """Why the host of a URL cannot be read, in words that never quote it, or None."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (read to check it: a port that is not a number raises)
    except ValueError as error:
        if "out of range" in str(error):
            return "its port is out of range (0 to 65535)"
        return "its host or port cannot be read (a password's '/', '?' and '#' must be written %2F, %3F and %23)"
    return None if parts.hostname else "it names no host"


def _host(url: str) -> str | None:
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


def _key(scheme: str, userinfo: str, host: str) -> tuple[str, str, str]:
    return scheme.lower(), userinfo, host.lower()


class Credentials:
    """The real userinfo and query secrets of the configured feeds, to put back into a masked
    URL to fetch it."""

    def __init__(self, urls: Iterable[str] = ()) -> None:
        # Each configured feed's own URL, by its masked form: two feeds of one host with
        # tokens of their own (a podcast host's ?auth= per show) each get theirs back.
        self._exact: dict[str, str] = {}
        self._userinfo: dict[tuple[str, str, str], str] = {}
        # The query secrets of each host's configured feeds, by parameter name: a feed moved
        # within its host (http to https, a new path) keeps its token.
        self._params: dict[tuple[str, str], str] = {}
        for url in urls:
            url = url.strip()
            self._exact[mask_url(url)] = url
            host = _host(url)
            for found_param in _SECRET_PARAM.finditer(url):
                if host:
                    self._params[(host, found_param.group(1)[1:].lower())] = found_param.group(2)
            found = _AUTHORITY.match(url)
            if found:
                masked = _AUTHORITY.match(mask_url(url))
                assert masked is not None
                self._userinfo[_key(masked.group(1), masked.group(2), masked.group(3))] = found.group(2)

    def unmask(self, url: str) -> str:
        """The URL to request: a configured feed's own URL for its masked form; else a
        masked userinfo replaced by the configured one for that host (a feed moved within its host keeps its credentials), and each masked query
        secret by the one a configured feed of that host gives under that name; others as
        they are."""
        if MASK not in url:
            return url
        if url in self._exact:
            return self._exact[url]
        host = _host(url)

        def configured(param: re.Match[str]) -> str:
            real = self._params.get((host, param.group(1)[1:].lower())) if host else None
            return param.group(1) + real if param.group(2) == MASK and real is not None else param.group(0)

        url = _SECRET_PARAM.sub(configured, url)
        found = _AUTHORITY.match(url) if MASK in url else None
        if found is None:
            return url
        real = self._userinfo.get(_key(found.group(1), found.group(2), found.group(3)))
        return url if real is None else f"{found.group(1)}{real}@{url[len(found.group(1)) + len(found.group(2)) + 1:]}"
