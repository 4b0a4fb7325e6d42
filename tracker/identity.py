"""How an entry is recognised as the same article again: GUID, then link, then title and date.

Within one publisher an article keeps its identity across that publisher's feeds and
across edits. The fallback chain, first match wins:
1. the entry's GUID / Atom id            → "guid:<id>"
2. its link, canonicalised               → "link:<url>"
3. its title and claimed date            → "title:<folded title>|<ISO date>"
4. a hash of its text (nothing else)     → "text:<hash>"
Both the GUID and the link are registered for each item, so a second feed of the
same publisher that gives only one of them still finds the same item.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import xxhash

from tracker.model import ParsedEntry
from tracker.normalise import tokens

_TRACKING = ("utm_", "fbclid", "gclid", "mc_cid", "mc_eid", "_hsenc", "_hsmi", "ref_src")


def canonical_url(url: str | None) -> str | None:
    """A link without what varies between copies of the same link: case of scheme and host,
    fragment, tracking parameters, default ports."""
    if not url:
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return url
    scheme = parts.scheme.lower()
    userinfo, _, hostport = parts.netloc.rpartition("@")
    host = hostport.lower()
    default_port = {"http": ":80", "https": ":443"}[scheme]
    host = (f"{userinfo}@" if userinfo else "") + host.removesuffix(default_port)
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not k.lower().startswith(_TRACKING)])
    return urlunsplit((scheme, host, parts.path or "/", query, ""))


def host_of(url: str | None) -> str | None:
    """The host of a URL without a leading "www.", lower-cased."""
    if not url:
        return None
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return None
    return host.removeprefix("www.") if host else None


def identity_keys(entry: ParsedEntry) -> list[str]:
    """Every key this entry can be recognised by, the primary (stored) one first."""
    keys: list[str] = []
    if entry.guid:
        keys.append(f"guid:{entry.guid}")
    link = canonical_url(entry.link)
    if link:
        keys.append(f"link:{link}")
    if not keys and entry.title:
        date = entry.claimed_at.isoformat() if entry.claimed_at else ""
        keys.append(f"title:{' '.join(tokens(entry.title))}|{date}")
    if not keys:
        keys.append(f"text:{xxhash.xxh64_hexdigest(entry.content.encode())}")
    return keys


def raw_hash(entry: ParsedEntry) -> str:
    """A hash of the entry exactly as served: unchanged entries are recognised without parsing HTML."""
    return xxhash.xxh3_128_hexdigest("\x00".join((entry.title, entry.content, entry.summary)).encode())


def text_hash(title: str, paragraphs: tuple[str, ...]) -> str:
    """A hash of what an entry says: a new value means a new version of the item."""
    return xxhash.xxh3_128_hexdigest("\x00".join((title, *paragraphs)).encode())
