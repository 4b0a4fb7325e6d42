"""The fetcher: one polite, bounded GET of a URL, redirects followed by hand, the body
streamed under a byte cap and a deadline, every failure reported as a `FetchResult`."""

from __future__ import annotations

import importlib.util
import time
import zlib
from collections.abc import Iterable
from datetime import UTC, datetime
from http.cookiejar import CookieJar, DefaultCookiePolicy
from types import TracebackType
from typing import Any

import httpx

from tracker.addresses import AddressGuard
from tracker.errors import BlockedAddressError, FetchError
from tracker.reader.fetch.decompress import decoder_for
from tracker.reader.fetch.headers import (
    PERMANENT,
    REDIRECTS,
    caused_by_ssl,
    check_url,
    conditional_headers,
    header,
    loop_key,
    one_line,
    parse_http_date,
    parse_max_age,
    parse_retry_after,
    unwanted_type,
)
from tracker.reader.fetch.results import FetchPolicy, FetchResult, Progress, Validators
from tracker.reader.fetch.transport import GuardedTransport

# Advertise brotli only when httpx can decode it here (it needs one of these packages).
_BROTLI = any(importlib.util.find_spec(m) is not None for m in ("brotli", "brotlicffi"))
ACCEPT_ENCODING = "gzip, deflate, br" if _BROTLI else "gzip, deflate"


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
            cookies=no_cookies, follow_redirects=False, transport=GuardedTransport(self.guard),
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
        progress = Progress(requested_url=url, final_url=url.strip(), validators=validators,
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
            return progress.result(error_kind="invalid_url", error_message=one_line(exc))
        except httpx.HTTPError as exc:
            kind = "tls" if caused_by_ssl(exc) else "connection"
            return progress.result(error_kind=kind, error_message=one_line(exc))

    def _follow(self, progress: Progress) -> FetchResult:
        """Walk the redirect chain by hand so every hop's status is known."""
        policy = self.policy
        target = check_url(progress.final_url)
        if isinstance(target, str):
            return progress.result(error_kind="invalid_url", error_message=target)
        deadline = progress.started + policy.total_timeout
        seen = {loop_key(target)}
        conditional = conditional_headers(progress.validators)
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
                location = header(progress.headers, "location")
                if status not in REDIRECTS or not location:
                    return self._final(resp, progress, deadline)
                # Raw Location bytes are UTF-8 in practice, as browsers assume.
                location = location.encode("latin-1").decode("utf-8", "replace").strip()
                target = resp.url.join(location)
                if isinstance(check_url(str(target)), str):
                    return progress.result(error_kind="invalid_url", error_message=(
                        f"redirect to unusable URL {str(target)!r}"))
                if loop_key(target) in seen:
                    return progress.result(error_kind="redirect_loop",
                                           error_message=f"redirect loop back to {target}")
                if len(progress.hops) >= policy.max_redirects:
                    return progress.result(error_kind="too_many_redirects", error_message=(
                        f"more than {policy.max_redirects} redirects"))
                seen.add(loop_key(target))
                progress.hops.append(status)
                progress.chain.append((progress.final_url, status, str(target)))

    def _final(self, resp: httpx.Response, progress: Progress, deadline: float) -> FetchResult:
        """Turn the last response of the chain into a result, reading the body on 2xx."""
        headers, status = progress.headers, resp.status_code
        cache_control = ", ".join(v for k, v in headers if k.lower() == "cache-control")
        meta: dict[str, Any] = dict(
            content_type=header(headers, "content-type"),
            cache_max_age_s=parse_max_age(cache_control),
            expires_at=parse_http_date(header(headers, "expires")))
        # Only a chain made entirely of permanent moves justifies rewriting the stored URL.
        permanent = bool(progress.hops) and all(h in PERMANENT for h in progress.hops)
        moved_to = progress.final_url if permanent else None
        # A 304 need not repeat its validators; keep the stored ones so the next poll
        # is still conditional.
        fresh = dict(etag=header(headers, "etag") or progress.validators.etag,
                     last_modified=(header(headers, "last-modified")
                                    or progress.validators.last_modified))

        if status == 304:
            return progress.result(not_modified=True, permanent_redirect=moved_to, **fresh, **meta)
        if 200 <= status < 300:
            unwanted = unwanted_type(meta["content_type"], self.policy.content_types)
            if unwanted:
                return progress.result(error_kind="unwanted_type", error_message=unwanted, **meta)
            cap = self.policy.max_body_bytes
            declared = (header(headers, "content-length") or "").strip()
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
            retry_after = parse_retry_after(header(headers, "retry-after"),
                                             parse_http_date(header(headers, "date")))
        return progress.result(error_kind="rate_limited" if status == 429 else "http_status",
                               error_message=line.strip(), retry_after_s=retry_after, **meta)

    def _read_body(self, resp: httpx.Response, progress: Progress,
                   deadline: float) -> tuple[bytes | None, str | None, str | None]:
        """Stream the body under the cap and deadline: (body, None, None) or (None, kind, why)."""
        cap = self.policy.max_body_bytes
        chunks: list[bytes] = []
        try:
            decoder = decoder_for(header(progress.headers, "content-encoding"))
            # Other encodings (br, zstd) fall back to httpx's own decoders: not
            # step-bounded, but still behind the cap.
            raw: Iterable[bytes] = resp.iter_raw() if decoder else resp.iter_bytes()
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
            return None, "connection", f"corrupt compressed body: {one_line(exc)}"
        return b"".join(chunks), None, None


def _hop_timeout(policy: FetchPolicy, remaining: float) -> httpx.Timeout:
    # Clamp to the remaining budget so a silent server cannot outlive total_timeout.
    connect, read = min(policy.connect_timeout, remaining), min(policy.read_timeout, remaining)
    return httpx.Timeout(connect=connect, read=read, write=read, pool=connect)
