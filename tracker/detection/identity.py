"""How an entry is recognised as the same article again, without ever merging two articles.

Within one publisher an article keeps its identity across that publisher's feeds and
across edits; two distinct entries never become one item. The rules, in order:
1. An entry with a GUID (Atom id) is the item with that GUID. A GUID never finds an item
   that already carries another GUID: feeds reuse one link for many posts (a microblog's
   day page with #fragments, a project's news page), the GUID is what tells them apart.
2. An entry without a GUID, or whose GUID is new, may be an item already seen under its
   link (fragment kept, tracking parameters dropped). Entries of one capture that share a
   link are told apart by their text, then by their title; an entry alone under its link
   whose only candidate is one item is that item edited — unless both carry dates and
   titles that differ. A new GUID attaches by link only to an item without a GUID, or to
   one its own feed never showed with the same title (the same post in a publisher's RSS
   and Atom feeds under two id schemes).
3. Without GUID or link: the title and claimed date; without those, a hash of the text.

`resolve` decides for a whole capture at once from what the store knows (`KnownItem`),
so it is a pure function the store can feed from memory or from SQL.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import xxhash

from tracker.detection.normalise import tokens, words
from tracker.model import ParsedEntry

# Joins a shared link's identity to the raw hash of the entry that shares it.
DUPLICATE_MARK = "|raw:"
_TRACKING = ("utm_", "fbclid", "gclid", "mc_cid", "mc_eid", "_hsenc", "_hsmi", "ref_src")


# Remembered: a feed serves the same links capture after capture, and parsing a URL costs more
# than looking it up (a pure function of its arguments; the bound keeps the memory small).
@lru_cache(maxsize=16384)
def canonical_url(url: str | None, keep_fragment: bool = False) -> str | None:
    """A link without what varies between copies of the same link: case of scheme and host,
    tracking parameters, default ports, and (unless `keep_fragment`) the fragment."""
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
    return urlunsplit((scheme, host, parts.path or "/", query, parts.fragment if keep_fragment else ""))


def lookup_key(url: str) -> str:
    """The form under which any variant of a link finds its item: no scheme, no "www.",
    no trailing slash, no tracking parameters, no fragment (`https://www.x.org/a/?utm_source=y`
    and `http://x.org/a` are one key)."""
    canonical = canonical_url(url) or url.strip()
    parts = urlsplit(canonical)
    if not parts.netloc:
        return canonical
    host = parts.netloc.removeprefix("www.")
    path = parts.path.rstrip("/")
    return host + path + (f"?{parts.query}" if parts.query else "")


def lookup_hash(url: str) -> str:
    """A short fixed-size hash of `lookup_key(url)`, for an index that any URL length fits."""
    return xxhash.xxh64_hexdigest(lookup_key(url).encode("utf-8", "replace"))


def key_hash(key: str) -> str:
    """A fixed-size digest of an identity key: keys of any length are unique by it."""
    return xxhash.xxh3_128_hexdigest(key.encode("utf-8", "replace"))


def content_digest(body: bytes | None, payload_digest: str | None = None) -> str:
    """What tells two captures of one feed at one moment apart: the body they served
    (for a revisit, which has none, the digest of the payload it found unchanged)."""
    if body is not None:
        return xxhash.xxh3_128_hexdigest(body)
    return (payload_digest or "")[:40]


def host_of(url: str | None) -> str | None:
    """The host of a URL without a leading "www.", lower-cased."""
    if not url:
        return None
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return None
    return host.removeprefix("www.") if host else None


# Second-level labels under which a site's own name is the third label (bbc.co.uk), for
# hosts the Public Suffix List does not know (reserved names such as .example, addresses).
_SHARED_SECOND = {"co", "com", "org", "net", "gov", "ac", "edu", "ne", "or", "go"}


def site_of(url: str | None) -> str | None:
    """The site a URL is on: its host without subdomains (news.x.org and www.x.org are one
    site, as are a.x.co.uk and x.co.uk), by the Public Suffix List with its private part:
    alice.github.io and bob.github.io are two sites, as two blogs on one shared host are."""
    host = host_of(url)
    return _site_of_host(host) if host else None


@lru_cache(maxsize=65536)
def _site_of_host(host: str) -> str:
    from tld import get_fld  # the bundled list; never fetched

    try:
        ipaddress.ip_address(host.strip("[]"))
        return host  # an address is a site of its own, not "0.1" of 10.0.0.1
    except ValueError:
        pass
    try:
        # One site whichever way its name is spelt: bücher.de is xn--bcher-kva.de.
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        pass

    try:
        found = get_fld(host, fix_protocol=True, fail_silently=True, search_private=True)
    except Exception:  # whatever a hostile host name makes the list's parser raise
        found = None
    if isinstance(found, str) and found:
        return found.lower()
    labels = host.split(".")
    keep = 3 if len(labels) >= 3 and labels[-2] in _SHARED_SECOND else 2
    return ".".join(labels[-keep:])


def guid_key(entry: ParsedEntry) -> str | None:
    """The GUID identity of an entry, if it has a GUID."""
    return f"guid:{entry.guid}" if entry.guid else None


def link_key(link: str | None) -> str | None:
    """The link identity of an entry: its canonical link with the fragment kept."""
    canonical = canonical_url(link, keep_fragment=True)
    return f"link:{canonical}" if canonical else None


def fallback_key(entry: ParsedEntry) -> str:
    """The identity of an entry with neither GUID nor link: title and date, else its text."""
    if entry.title:
        date = entry.claimed_at.isoformat() if entry.claimed_at else ""
        return f"title:{' '.join(words(entry.title))}|{date}"
    return f"text:{xxhash.xxh64_hexdigest(entry.content.encode('utf-8', 'replace'))}"


def entry_signature(entry: ParsedEntry) -> str:
    """What makes an entry distinct from another of its capture: GUID, else link, title and text."""
    if entry.guid:
        return f"guid:{entry.guid}"
    return "\x00".join(("entry", entry.link or "", entry.title, raw_hash(entry)))


def raw_hash(entry: ParsedEntry) -> str:
    """A hash of the entry exactly as served: unchanged entries are recognised without parsing HTML."""
    return xxhash.xxh3_128_hexdigest("\x00".join((entry.title, entry.content, entry.summary)).encode("utf-8", "replace"))


def text_hash(title: str, paragraphs: tuple[str, ...]) -> str:
    """A hash of what an entry says: a new value means a new version of the item."""
    return xxhash.xxh3_128_hexdigest("\x00".join((title, *paragraphs)).encode("utf-8", "replace"))


def fold_title(title: str) -> str:
    """A title as compared for identity: its tokens, case and accents folded."""
    return " ".join(tokens(title))


@dataclass(frozen=True)
class KnownItem:
    """An item already stored under a link, as identity needs it."""

    item_id: int
    guid: str | None
    title: str
    claimed_at: datetime | None
    raw_hashes: frozenset[str]
    feed_ids: frozenset[int]


@dataclass(frozen=True)
class Resolution:
    """Which item a distinct entry of a capture is (None: a new item), and the keys it goes by."""

    entry: ParsedEntry
    item_id: int | None
    keys: tuple[str, ...]


class ItemLookup:
    """What `resolve` asks of the store about one publisher's items."""

    def by_guid(self, key: str) -> int | None:  # pragma: no cover - interface
        """The item registered under a GUID key."""
        raise NotImplementedError

    def under(self, key: str) -> Sequence[KnownItem]:  # pragma: no cover - interface
        """Every item stored under a link key (or, for entries without a link, a fallback key)."""
        raise NotImplementedError


def group_key(entry: ParsedEntry) -> str:
    """The key under which an entry looks for items when its GUID does not find one."""
    return link_key(entry.link) or fallback_key(entry)


def stored_keys(identity: str, url: str | None) -> tuple[str, ...]:
    """The keys an item stored under `identity` with link `url` is found by again."""
    base = identity.partition(DUPLICATE_MARK)[0]
    link = link_key(url)
    if base.startswith("guid:"):
        return (base, link) if link else (base,)
    return (link or base,)


def entry_keys(entry: ParsedEntry) -> tuple[str, ...]:
    """Every key an entry registers its item under: its GUID key, if any, and its group key."""
    guid = guid_key(entry)
    return (guid, group_key(entry)) if guid else (group_key(entry),)


def resolve(entries: Sequence[ParsedEntry], feed_id: int, lookup: ItemLookup) -> list[Resolution]:
    """Decide for each distinct entry of one capture which stored item it is.

    Entries that are the same entry (same GUID; or same link, title and text) are one;
    each stored item is claimed by at most one distinct entry of the capture.
    """
    distinct: dict[str, ParsedEntry] = {}
    for entry in entries:
        distinct.setdefault(entry_signature(entry), entry)
    chosen: dict[str, int | None] = {}
    claimed: set[int] = set()
    groups: dict[str, list[str]] = defaultdict(list)
    for signature, entry in distinct.items():
        guid = guid_key(entry)
        found = lookup.by_guid(guid) if guid else None
        chosen[signature] = found
        if found is not None:
            claimed.add(found)
        elif not guid or entry.link:
            groups[group_key(entry)].append(signature)
    for key, group in groups.items():
        candidates = [c for c in lookup.under(key) if c.item_id not in claimed]
        for signature, item_id in _match_group([(s, distinct[s]) for s in group], candidates, feed_id).items():
            chosen[signature] = item_id
            claimed.add(item_id)
    return [Resolution(entry, chosen[signature], entry_keys(entry)) for signature, entry in distinct.items()]


def _match_group(group: list[tuple[str, ParsedEntry]], candidates: list[KnownItem], feed_id: int) -> dict[str, int]:
    """Pair entries sharing one link with the stored items under it; unpaired entries are new."""
    def allowed(entry: ParsedEntry, item: KnownItem) -> bool:
        if not entry.guid or item.guid is None:
            return True
        # A second GUID for one article only across feeds, and only under the same title.
        return feed_id not in item.feed_ids and fold_title(item.title) == fold_title(entry.title)

    pairs: dict[str, int] = {}
    free = list(candidates)
    rules: list[Callable[[ParsedEntry, KnownItem], bool]] = [
        lambda e, c: raw_hash(e) in c.raw_hashes,
        lambda e, c: bool(e.title) and fold_title(e.title) == fold_title(c.title),
    ]
    for rule in rules:
        for signature, entry in group:
            if signature in pairs:
                continue
            match = next((c for c in free if allowed(entry, c) and rule(entry, c)), None)
            if match is not None:
                pairs[signature] = match.item_id
                free.remove(match)
    if len(group) == 1 and len(candidates) == 1 and free and group[0][0] not in pairs:
        # One entry, one item under its link: the article edited — unless it is plainly another.
        signature, entry = group[0]
        item = free[0]
        retitled_and_redated = (
            entry.claimed_at is not None and item.claimed_at is not None and entry.claimed_at != item.claimed_at
            and fold_title(entry.title) != fold_title(item.title)
        )
        if not retitled_and_redated and (not entry.guid or item.guid is None):
            pairs[signature] = item.item_id
    return pairs
