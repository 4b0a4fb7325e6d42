"""HTTP details of the fetch stage, pure functions: URLs and the redirect chain, request
and response headers (validators, caching, Retry-After), and failures in one line."""

from __future__ import annotations

import math
import re
import ssl
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from tracker.reader.fetch.results import Headers, Validators

REDIRECTS = frozenset({301, 302, 303, 307, 308})
PERMANENT = frozenset({301, 308})
HOST = re.compile(r"[a-z0-9._:-]+", re.IGNORECASE)  # IDNA reg-name, IPv4, bare IPv6


def check_url(raw: str) -> httpx.URL | str:
    """Parse an absolute http(s) URL, or return why it is unusable."""
    try:
        url = httpx.URL(raw.strip())
    except httpx.InvalidURL as exc:
        return f"invalid URL {raw!r}: {one_line(exc)}"
    if url.scheme not in ("http", "https"):
        return f"invalid URL {raw!r}: only absolute http(s) URLs can be fetched"
    # httpx percent-encodes a host it cannot parse (spaces, stray symbols) instead of
    # refusing it; that would only surface later as a confusing DNS failure.
    if not HOST.fullmatch(url.raw_host.decode("ascii", "replace")):
        return f"invalid URL {raw!r}: bad host {url.host!r}"
    if url.port is not None and not 0 < url.port < 65536:
        return f"invalid URL {raw!r}: bad port {url.port}"
    return url


def loop_key(url: httpx.URL) -> str:
    # Fragments never reach the server, so /a#x and /a are the same hop.
    return str(url.copy_with(fragment=None))


def conditional_headers(validators: Validators) -> dict[str, bytes]:
    headers: dict[str, bytes] = {}
    for name, value in (("If-None-Match", validators.etag),
                        ("If-Modified-Since", validators.last_modified)):
        # CR/LF/NUL cannot have come from a server; drop the value rather than fail the poll.
        if value and not any(c in value for c in "\r\n\0"):
            # Results decode headers as latin-1, so encoding back round-trips the bytes.
            try:
                headers[name] = value.encode("latin-1")
            except UnicodeEncodeError:
                headers[name] = value.encode("utf-8")
    return headers


def unwanted_type(content_type: str | None, wanted: tuple[str, ...]) -> str | None:
    """Why a body of `content_type` is not read, or None when it is one of `wanted`."""
    if not wanted or not content_type:
        return None
    media = content_type.split(";", 1)[0].strip().lower()
    if media in wanted:
        return None
    return f"Content-Type {media[:100]!r} is not one of {', '.join(wanted)}"


def header(headers: Headers, name: str) -> str | None:
    return next((value for key, value in headers if key.lower() == name), None)


def parse_http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_retry_after(value: str | None, server_now: datetime | None) -> float | None:
    """Retry-After in seconds from now, from delta-seconds or an HTTP-date, clamped >= 0."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        when = parse_http_date(value)
        if when is None:
            return None
        # Measure against the server's own Date header when it sent one: clock skew
        # between us and the server would otherwise stretch or erase the pause.
        seconds = (when - (server_now or datetime.now(UTC))).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def parse_max_age(cache_control: str) -> float | None:
    directives: dict[str, str] = {}
    for part in cache_control.split(","):
        name, _, arg = part.partition("=")
        directives.setdefault(name.strip().lower(), arg.strip().strip('"'))
    if "no-cache" in directives or "no-store" in directives:
        return None
    for key in ("max-age", "s-maxage"):
        if directives.get(key, "").isdigit():
            return float(directives[key])
    return None


def caused_by_ssl(exc: BaseException) -> bool:
    # httpx and httpcore each wrap the ssl.SSLError, so walk the whole chain.
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, (ssl.SSLError, ssl.CertificateError)):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def one_line(exc: BaseException) -> str:
    return (" ".join(str(exc).split()) or type(exc).__name__)[:300]
