"""Webhook POSTs for alerts (tracker.daemon.deliver), over httpx like every other request."""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass

import httpx

from tracker.reader.fetch.decompress import decoder_for
from tracker.reader.fetch.headers import caused_by_ssl, one_line, parse_http_date, parse_retry_after
from tracker.redact import mask_credentials


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
                answer = _start_of_answer(resp, deadline)
                status = resp.status_code
                if 200 <= status < 300:
                    return PostResult(status, None, None)
                retry = None
                if status in (429, 503):
                    retry = parse_retry_after(resp.headers.get("retry-after"),
                                               parse_http_date(resp.headers.get("date")))
                reason = resp.reason_phrase or httpx.codes.get_reason_phrase(status)
                said = " ".join(answer[:200].decode("utf-8", "replace").split())
                return PostResult(status, f"HTTP {status} {reason}".strip() + (f": {said}" if said else ""), retry)
        except httpx.TimeoutException as exc:
            return PostResult(None, f"timeout after {timeout:g}s ({type(exc).__name__})", None)
        except httpx.HTTPError as exc:
            return PostResult(None, mask_credentials(f"{'tls' if caused_by_ssl(exc) else 'connection'}: {one_line(exc)}"), None)


def _start_of_answer(resp: httpx.Response, deadline: float) -> bytes:
    """The first KiB of an answer, for the error message, decoded a step at a time
    (tracker.reader.fetch.decompress): httpx inflates a chunk whole, and a 2 KB answer
    coded "gzip, gzip" held 1 GiB. Another coding (br) is left as it came."""
    answer = b""
    try:
        decoder = decoder_for(resp.headers.get("content-encoding"))
        for chunk in resp.iter_raw():
            for piece in decoder.decode(chunk) if decoder else (chunk,):
                answer += piece[:1024]
                if len(answer) >= 1024:
                    return answer
            if time.monotonic() > deadline:
                break
    except zlib.error:
        pass  # a damaged answer: what was read of it, if anything
    return answer

