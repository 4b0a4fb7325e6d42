"""The HTTP fetch stage: one polite, bounded GET of a feed URL, reported as data.

Modelled on Miniflux's internal/reader/fetcher: conditional GET with stored validators,
a byte cap counted after decompression, a wall-clock deadline for the whole exchange,
redirects followed by hand so a chain of permanent moves can update the stored URL, and
every network or HTTP failure returned as a `FetchResult` with `error_kind` set, never
raised. Parsing the bytes is another stage's job. httpx (and its httpcore) lives only in
this module.

Every TCP connection, the first hop's and each redirect's, goes through an `AddressGuard`
(tracker.addresses): the host is resolved once, loopback/private/link-local/… addresses
are refused before any connect unless the policy allows them, and the socket is opened to
the very address that was checked. Environment proxies (HTTP_PROXY…) are therefore not
used: a proxy would connect on our behalf to an address nobody checked.

Known limit: the total deadline clamps each hop's connect/read timeouts and is checked
between body chunks, but httpx has no hook inside header parsing, so a server dripping
*headers* is bounded only by read_timeout per byte (and httpcore's 100 KiB header cap),
and a body read can overshoot the deadline by at most one read_timeout.
"""

from __future__ import annotations

import importlib.util
import math
import re
import ssl
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http.cookiejar import CookieJar, DefaultCookiePolicy
from types import TracebackType
from typing import Any

import httpcore
import httpx

from tracker.addresses import AddressGuard
from tracker.decompress import decoder_for
from tracker.errors import BlockedAddressError, FetchError
from tracker.redact import mask_credentials

ERROR_KINDS = ("timeout", "connection", "tls", "http_status", "too_large", "redirect_loop",
               "too_many_redirects", "invalid_url", "rate_limited", "gone", "blocked_address",
               "unwanted_type")

ACCEPT = ("application/rss+xml, application/atom+xml, application/feed+json, "
          "application/xml;q=0.9, text/xml;q=0.8, */*;q=0.5")
# Advertise brotli only when httpx can decode it here (it needs one of these packages).
_BROTLI = any(importlib.util.find_spec(m) is not None for m in ("brotli", "brotlicffi"))
ACCEPT_ENCODING = "gzip, deflate, br" if _BROTLI else "gzip, deflate"

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_PERMANENT = frozenset({301, 308})
_HOST = re.compile(r"[a-z0-9._:-]+", re.IGNORECASE)  # IDNA reg-name, IPv4, bare IPv6

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
class _Progress:
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
        for key in ("requested_url", "final_url", "permanent_redirect", "error_message"):
            if values[key]:
                values[key] = mask_credentials(values[key])
        return FetchResult(**values)


class Fetcher:
    """Holds one httpx.Client (connection pooling); thread-safe to call fetch() from a worker pool."""

    def __init__(self, policy: FetchPolicy = FetchPolicy(), guard: AddressGuard | None = None) -> None:
        """`guard` decides which addresses may be reached; by default the policy's."""
        self.policy = policy
        self.guard = guard or AddressGuard(allow_private=policy.allow_private_addresses)
        self._closed = False
        # Refuse every cookie: one jar shared by all feeds would leak state between
        # unrelated publishers (Go's default client, under Miniflux, keeps none either).
        no_cookies = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
        self._client = httpx.Client(
            headers={"User-Agent": policy.user_agent, "Accept": policy.accept,
                     "Accept-Encoding": ACCEPT_ENCODING},
            cookies=no_cookies, follow_redirects=False, transport=_GuardedTransport(self.guard),
            timeout=_hop_timeout(policy, policy.total_timeout))

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Close pooled connections; further fetch() calls raise FetchError."""
        self._closed = True
        self._client.close()

    def fetch(self, url: str, validators: Validators = Validators()) -> FetchResult:
        """GET `url` (following redirects) and report the outcome as a FetchResult.

        Network and HTTP failures come back with `error_kind` set; only misuse (a
        non-string URL, a closed fetcher) raises FetchError.
        """
        if not isinstance(url, str):
            raise FetchError("invalid_url", f"url must be a str, got {type(url).__name__}")
        if self._closed:
            raise FetchError("closed", "fetch() called on a closed Fetcher")
        progress = _Progress(requested_url=url, final_url=url.strip(), validators=validators,
                             fetched_at=datetime.now(UTC), started=time.monotonic())
        try:
            return self._follow(progress)
        except BlockedAddressError as exc:
            hop = f"redirect to {progress.final_url}" if progress.hops else progress.final_url
            return progress.result(error_kind=exc.kind, error_message=(
                f"{hop} refused: {exc.message}; [polling] allow_private_addresses = true "
                "allows it")[:500])
        except httpx.TimeoutException as exc:
            what = "connect" if isinstance(exc, httpx.ConnectTimeout) else "read"
            limit = getattr(self.policy, f"{what}_timeout")
            return progress.result(error_kind="timeout", error_message=(
                f"{what} timed out (limit {limit:g}s, total {self.policy.total_timeout:g}s)"))
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            return progress.result(error_kind="invalid_url", error_message=_one_line(exc))
        except httpx.HTTPError as exc:
            kind = "tls" if _caused_by_ssl(exc) else "connection"
            return progress.result(error_kind=kind, error_message=_one_line(exc))

    def _follow(self, progress: _Progress) -> FetchResult:
        """Walk the redirect chain by hand so every hop's status is known."""
        policy = self.policy
        target = _check_url(progress.final_url)
        if isinstance(target, str):
            return progress.result(error_kind="invalid_url", error_message=target)
        deadline = progress.started + policy.total_timeout
        seen = {_loop_key(target)}
        conditional = _conditional_headers(progress.validators)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return progress.result(error_kind="timeout", error_message=(
                    f"total timeout of {policy.total_timeout:g}s exceeded"))
            progress.final_url = str(target)
            with self._client.stream("GET", target, headers=conditional,
                                     timeout=_hop_timeout(policy, remaining)) as resp:
                progress.headers = tuple((k.decode("latin-1"), v.decode("latin-1"))
                                         for k, v in resp.headers.raw)
                progress.status = status = resp.status_code
                location = _header(progress.headers, "location")
                if status not in _REDIRECTS or not location:
                    return self._final(resp, progress, deadline)
                # Raw Location bytes are UTF-8 in practice, as browsers assume.
                location = location.encode("latin-1").decode("utf-8", "replace").strip()
                target = resp.url.join(location)
                if isinstance(_check_url(str(target)), str):
                    return progress.result(error_kind="invalid_url", error_message=(
                        f"redirect to unusable URL {str(target)!r}"))
                if _loop_key(target) in seen:
                    return progress.result(error_kind="redirect_loop",
                                           error_message=f"redirect loop back to {target}")
                if len(progress.hops) >= policy.max_redirects:
                    return progress.result(error_kind="too_many_redirects", error_message=(
                        f"more than {policy.max_redirects} redirects"))
                seen.add(_loop_key(target))
                progress.hops.append(status)
                progress.chain.append((progress.final_url, status, str(target)))

    def _final(self, resp: httpx.Response, progress: _Progress, deadline: float) -> FetchResult:
        """Turn the last response of the chain into a result, reading the body on 2xx."""
        headers, status = progress.headers, resp.status_code
        cache_control = ", ".join(v for k, v in headers if k.lower() == "cache-control")
        meta: dict[str, Any] = dict(
            content_type=_header(headers, "content-type"),
            cache_max_age_s=_parse_max_age(cache_control),
            expires_at=_parse_http_date(_header(headers, "expires")))
        # Only a chain made entirely of permanent moves justifies rewriting the stored URL.
        permanent = bool(progress.hops) and all(h in _PERMANENT for h in progress.hops)
        moved_to = progress.final_url if permanent else None
        # A 304 need not repeat its validators; keep the stored ones so the next poll
        # is still conditional.
        fresh = dict(etag=_header(headers, "etag") or progress.validators.etag,
                     last_modified=(_header(headers, "last-modified")
                                    or progress.validators.last_modified))

        if status == 304:
            return progress.result(not_modified=True, permanent_redirect=moved_to, **fresh, **meta)
        if 200 <= status < 300:
            unwanted = _unwanted_type(meta["content_type"], self.policy.content_types)
            if unwanted:
                return progress.result(error_kind="unwanted_type", error_message=unwanted, **meta)
            cap = self.policy.max_body_bytes
            declared = (_header(headers, "content-length") or "").strip()
            # Content-Length is the *encoded* size, so it can prove "too big", never "small".
            if declared.isdigit() and int(declared) > cap:
                return progress.result(error_kind="too_large", error_message=(
                    f"Content-Length {int(declared)} exceeds cap of {cap} bytes"), **meta)
            body, kind, message = self._read_body(resp, progress, deadline)
            if body is None:
                return progress.result(error_kind=kind, error_message=message, **meta)
            return progress.result(body=body, permanent_redirect=moved_to, **fresh, **meta)

        line = f"HTTP {status} {resp.reason_phrase or httpx.codes.get_reason_phrase(status)}"
        if status == 410:
            return progress.result(gone=True, error_kind="gone", error_message=line.strip(),
                                   **meta)
        retry_after = None
        if status in (429, 503):
            retry_after = _parse_retry_after(_header(headers, "retry-after"),
                                             _parse_http_date(_header(headers, "date")))
        return progress.result(error_kind="rate_limited" if status == 429 else "http_status",
                               error_message=line.strip(), retry_after_s=retry_after, **meta)

    def _read_body(self, resp: httpx.Response, progress: _Progress,
                   deadline: float) -> tuple[bytes | None, str | None, str | None]:
        """Stream the body under the cap and deadline: (body, None, None) or (None, kind, why)."""
        cap = self.policy.max_body_bytes
        decoder = decoder_for(_header(progress.headers, "content-encoding"))
        # Stacked or other encodings (br, zstd, "gzip, gzip") fall back to httpx's own
        # decoders: not step-bounded, but still behind the cap.
        raw: Iterable[bytes] = resp.iter_raw() if decoder else resp.iter_bytes()
        chunks: list[bytes] = []
        try:
            for chunk in raw:
                for piece in decoder.decode(chunk) if decoder else (chunk,):
                    progress.bytes_read += len(piece)
                    if progress.bytes_read > cap:
                        return None, "too_large", f"body exceeds cap of {cap} bytes after decoding"
                    chunks.append(piece)
                if time.monotonic() > deadline:
                    return None, "timeout", (f"total timeout of {self.policy.total_timeout:g}s "
                                             f"exceeded after {progress.bytes_read} body bytes")
            if decoder:
                decoder.check_complete()
        except zlib.error as exc:
            return None, "connection", f"corrupt compressed body: {_one_line(exc)}"
        return b"".join(chunks), None, None


class _GuardedBackend(httpcore.SyncBackend):
    """httpcore's socket backend, connecting only to addresses the guard has checked."""

    def __init__(self, guard: AddressGuard) -> None:
        self._guard = guard

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        try:
            addresses = self._guard.addresses(host, port)  # BlockedAddressError passes through
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        # Connecting to the checked literal means nothing resolves the name again
        # (DNS rebinding); TLS still verifies and sends SNI for the name, not the address.
        for n, address in enumerate(addresses, 1):
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout):
                # The next address, as socket.create_connection would try it.
                if n == len(addresses):
                    raise
        raise httpcore.ConnectError(f"no address for {host}")  # unreachable: addresses is never empty


class _GuardedTransport(httpx.HTTPTransport):
    """httpx's own transport, over a connection pool whose connects go through the guard."""

    def __init__(self, guard: AddressGuard) -> None:
        # HTTPTransport.__init__ is skipped on purpose: it would build an unguarded pool
        # (and load the CA bundle for it). Its methods use nothing but `self._pool`.
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)  # httpx's defaults
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(), max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry, network_backend=_GuardedBackend(guard))


def _hop_timeout(policy: FetchPolicy, remaining: float) -> httpx.Timeout:
    # Clamp to the remaining budget so a silent server cannot outlive total_timeout.
    connect, read = min(policy.connect_timeout, remaining), min(policy.read_timeout, remaining)
    return httpx.Timeout(connect=connect, read=read, write=read, pool=connect)


def _check_url(raw: str) -> httpx.URL | str:
    """Parse an absolute http(s) URL, or return why it is unusable."""
    try:
        url = httpx.URL(raw.strip())
    except httpx.InvalidURL as exc:
        return f"invalid URL {raw!r}: {_one_line(exc)}"
    if url.scheme not in ("http", "https"):
        return f"invalid URL {raw!r}: only absolute http(s) URLs can be fetched"
    # httpx percent-encodes a host it cannot parse (spaces, stray symbols) instead of
    # refusing it; that would only surface later as a confusing DNS failure.
    if not _HOST.fullmatch(url.raw_host.decode("ascii", "replace")):
        return f"invalid URL {raw!r}: bad host {url.host!r}"
    if url.port is not None and not 0 < url.port < 65536:
        return f"invalid URL {raw!r}: bad port {url.port}"
    return url


def _loop_key(url: httpx.URL) -> str:
    # Fragments never reach the server, so /a#x and /a are the same hop.
    return str(url.copy_with(fragment=None))


def _conditional_headers(validators: Validators) -> dict[str, bytes]:
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


def _unwanted_type(content_type: str | None, wanted: tuple[str, ...]) -> str | None:
    """Why a body of `content_type` is not read, or None when it is one of `wanted`."""
    if not wanted or not content_type:
        return None
    media = content_type.split(";", 1)[0].strip().lower()
    if media in wanted:
        return None
    return f"Content-Type {media[:100]!r} is not one of {', '.join(wanted)}"


def _header(headers: Headers, name: str) -> str | None:
    return next((value for key, value in headers if key.lower() == name), None)


def _parse_http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _parse_retry_after(value: str | None, server_now: datetime | None) -> float | None:
    """Retry-After in seconds from now, from delta-seconds or an HTTP-date, clamped >= 0."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        when = _parse_http_date(value)
        if when is None:
            return None
        # Measure against the server's own Date header when it sent one: clock skew
        # between us and the server would otherwise stretch or erase the pause.
        seconds = (when - (server_now or datetime.now(UTC))).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _parse_max_age(cache_control: str) -> float | None:
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


def _caused_by_ssl(exc: BaseException) -> bool:
    # httpx and httpcore each wrap the ssl.SSLError, so walk the whole chain.
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, (ssl.SSLError, ssl.CertificateError)):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def _one_line(exc: BaseException) -> str:
    return (" ".join(str(exc).split()) or type(exc).__name__)[:300]


# -- webhooks (alerts) -------------------------------------------------------------------------
@dataclass(frozen=True)
class PostResult:
    """The outcome of one webhook POST: a status, or the failure that prevented one."""

    status: int | None
    error: str | None             # None on a 2xx answer
    retry_after_s: float | None   # on 429/503


class WebhookPoster:
    """POSTs JSON to operator-configured webhooks; bounded in time, never follows redirects.

    Webhook URLs come from the config, not from feeds, so no address filtering applies here.
    """

    def __init__(self, user_agent: str) -> None:
        self._client = httpx.Client(headers={"User-Agent": user_agent}, follow_redirects=False, cookies=None)

    def close(self) -> None:
        """Close pooled connections."""
        self._client.close()

    def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> PostResult:
        """POST `body` to `url`; the whole exchange takes at most about `timeout` seconds."""
        deadline = time.monotonic() + timeout
        try:
            with self._client.stream("POST", url, content=body, headers=headers,
                                     timeout=httpx.Timeout(timeout)) as resp:
                answer = b""
                for chunk in resp.iter_bytes():
                    answer += chunk
                    if len(answer) >= 1024 or time.monotonic() > deadline:
                        break  # only the start of an answer is kept, for the error message
                status = resp.status_code
                if 200 <= status < 300:
                    return PostResult(status, None, None)
                retry = None
                if status in (429, 503):
                    retry = _parse_retry_after(resp.headers.get("retry-after"),
                                               _parse_http_date(resp.headers.get("date")))
                reason = resp.reason_phrase or httpx.codes.get_reason_phrase(status)
                said = " ".join(answer[:200].decode("utf-8", "replace").split())
                return PostResult(status, f"HTTP {status} {reason}".strip() + (f": {said}" if said else ""), retry)
        except httpx.TimeoutException as exc:
            return PostResult(None, f"timeout after {timeout:g}s ({type(exc).__name__})", None)
        except httpx.HTTPError as exc:
            return PostResult(None, mask_credentials(f"{'tls' if _caused_by_ssl(exc) else 'connection'}: {_one_line(exc)}"), None)
