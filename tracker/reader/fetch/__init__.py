"""The HTTP fetch stage: one polite, bounded GET of a feed URL, reported as data.

Modelled on Miniflux's internal/reader/fetcher: conditional GET with stored validators,
a byte cap counted after decompression, a wall-clock deadline for the whole exchange,
redirects followed by hand so a chain of permanent moves can update the stored URL, and
every network or HTTP failure returned as a `FetchResult` with `error_kind` set, never
raised. Parsing the bytes is another stage's job. httpx (and its httpcore) lives only in
this package.

Every TCP connection, the first hop's and each redirect's, goes through an `AddressGuard`
(tracker.addresses): the host is resolved once, loopback/private/link-local/… addresses
are refused before any connect unless the policy allows them, and the socket is opened to
the very address that was checked. Environment proxies (HTTP_PROXY…) are therefore not
used: a proxy would connect on our behalf to an address nobody checked.

Known limit: the total deadline clamps each hop's connect/read timeouts and is checked
between body chunks, but httpx has no hook inside header parsing, so a server dripping
*headers* is bounded only by read_timeout per byte (and httpcore's 100 KiB header cap),
and a body read can overshoot the deadline by at most one read_timeout.

The package: `results` (policy, validators, result), `fetcher` (the GET and its redirect
chain), `transport` (the guarded connections), `headers` (pure HTTP details), `webhook`
(alerts' POSTs).
"""

from tracker.reader.fetch.fetcher import ACCEPT_ENCODING, Fetcher
from tracker.reader.fetch.results import ACCEPT, ERROR_KINDS, FetchPolicy, FetchResult, Headers, Validators
from tracker.reader.fetch.webhook import PostResult, WebhookPoster

__all__ = ["ACCEPT", "ACCEPT_ENCODING", "ERROR_KINDS", "FetchPolicy", "FetchResult", "Fetcher", "Headers", "PostResult",
           "Validators", "WebhookPoster"]
