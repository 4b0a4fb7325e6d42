"""The in-memory view of the stored corpus that detection and provenance work from.

A cache, never the truth: `tracker.store.loader` rebuilds it from SQL, and every
change the pipeline makes here it also writes there. It answers the questions the
pipeline asks on every entry: do we know this article, which paragraphs does this
publisher repeat everywhere, which items match which, and how credible is a date.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from tracker.identity import ItemLookup, KnownItem, canonical_url, host_of, lookup_key
from tracker.index import CandidateIndex
from tracker.model import Attribution, Fingerprint
from tracker.normalise import fold
from tracker.provenance import Edge, ItemFacts


@dataclass
class VersionState:
    """One text of an item as detection needs it."""

    version_id: int
    number: int
    paragraph_keys: tuple[int, ...]
    story: Fingerprint
    full: np.ndarray
    lead: Fingerprint


@dataclass
class ItemState:
    """One item as detection and provenance need it."""

    item_id: int
    publisher_id: int
    url: str
    title: str
    claimed_at: datetime | None
    first_seen_at: datetime
    first_feed_id: int
    feeds: dict[int, datetime] = field(default_factory=dict)
    credits: list[Attribution] = field(default_factory=list)
    versions: list[VersionState] = field(default_factory=list)
    raw_hashes: set[str] = field(default_factory=set)
    text_hashes: set[str] = field(default_factory=set)
    guid: str | None = None


class Corpus:
    """Lookup tables over publishers, feeds, items, boilerplate, matches and capture times."""

    def __init__(self, index: CandidateIndex, boilerplate_min_items: int, claim_tolerance: timedelta) -> None:
        self.index = index
        self.boilerplate_min_items = boilerplate_min_items
        self.claim_tolerance = claim_tolerance
        self.publisher_names: dict[int, str] = {}
        self.publisher_source: dict[int, str] = {}
        self.publishers_by_name: dict[str, set[int]] = defaultdict(set)
        self.feed_sites: dict[int, tuple[str | None, str | None]] = {}
        self.publishers_by_host: dict[str, set[int]] = defaultdict(set)
        self.hosts_of: dict[int, set[str]] = defaultdict(set)
        self.feed_ids: dict[str, int] = {}
        self.feed_publisher: dict[int, int] = {}
        self.feed_items: dict[int, set[int]] = defaultdict(set)
        self.items: dict[int, ItemState] = {}
        self.item_keys: dict[tuple[int, str], int] = {}
        self.identities: set[tuple[int, str]] = set()
        self.link_items: dict[tuple[int, str], list[int]] = defaultdict(list)
        self.item_by_url: dict[str, int] = {}
        self.credited_by: dict[str, set[int]] = defaultdict(set)
        self.capture_times: dict[int, list[datetime]] = defaultdict(list)
        self.captures: set[tuple[int, datetime, str, str]] = set()
        self.paragraph_items: dict[int, dict[int, set[int]]] = defaultdict(lambda: defaultdict(set))
        self.boilerplate: dict[int, set[int]] = defaultdict(set)
        self.edges: dict[int, dict[int, Edge]] = defaultdict(dict)

    # -- publishers and feeds -------------------------------------------------------
    def add_publisher(self, publisher_id: int, name: str, host: str | None, source: str = "config") -> None:
        """Register a publisher under its name and, if known, its site's host."""
        self.publisher_names[publisher_id] = name
        self.publisher_source[publisher_id] = source
        self.publishers_by_name[fold(name).strip()].add(publisher_id)
        self._add_host(publisher_id, host)

    def rename_publisher(self, publisher_id: int, name: str, source: str) -> None:
        """A publisher named after its feed's URL learns its feed's title."""
        self.publishers_by_name[fold(self.publisher_names[publisher_id]).strip()].discard(publisher_id)
        self.publisher_names[publisher_id] = name
        self.publisher_source[publisher_id] = source
        self.publishers_by_name[fold(name).strip()].add(publisher_id)

    def publisher_named(self, name: str) -> int | None:
        """The publisher a name stands for, if exactly one has it."""
        found = self.publishers_by_name.get(fold(name).strip())
        return next(iter(found)) if found and len(found) == 1 else None

    def publisher_host(self, publisher_id: int) -> str | None:
        """One host of a publisher's sites, for telling apart two publishers of one name."""
        hosts = self.hosts_of.get(publisher_id)
        return min(hosts) if hosts else None

    def _add_host(self, publisher_id: int, host: str | None) -> None:
        if host:
            self.publishers_by_host[host].add(publisher_id)
            self.hosts_of[publisher_id].add(host)

    def names_of(self, publisher_id: int) -> list[str]:
        """What a publisher's own header lines may say: its name and its sites' hosts."""
        return [self.publisher_names.get(publisher_id, ""), *sorted(self.hosts_of[publisher_id])]

    def publisher_at(self, host: str | None) -> int | None:
        """The publisher at a host, if exactly one is (shared hosts answer nothing).

        Local and bare hosts (localhost, IP addresses) say nothing about who publishes.
        """
        if not host or "." not in host or host.replace(".", "").isdigit() or host.endswith(".localhost"):
            return None
        found = self.publishers_by_host.get(host)
        return next(iter(found)) if found and len(found) == 1 else None

    def add_feed(self, feed_id: int, url: str, publisher_id: int, title: str | None = None, site: str | None = None) -> None:
        """Register a feed, the publisher behind it, and the site it says it belongs to."""
        self.feed_ids[url] = feed_id
        self.feed_publisher[feed_id] = publisher_id
        self.feed_sites[feed_id] = (title, site)
        self._add_host(publisher_id, host_of(url))

    def learn_feed(self, feed_id: int, title: str | None, site: str | None) -> bool:
        """A feed's title and site link, once known; True if they were not known before."""
        if self.feed_sites.get(feed_id, (None, None))[0] is not None:
            return False
        self.feed_sites[feed_id] = (title, site)
        self._add_host(self.feed_publisher[feed_id], host_of(site))
        return True

    def move_feed(self, feed_id: int, publisher_id: int) -> None:
        """A feed turns out to be another feed's site's (its first capture said so)."""
        old = self.feed_publisher[feed_id]
        self.feed_publisher[feed_id] = publisher_id
        for host in self.hosts_of.pop(old, set()):
            self.publishers_by_host[host].discard(old)
            self._add_host(publisher_id, host)
        self.publishers_by_name[fold(self.publisher_names.pop(old, "")).strip()].discard(old)
        self.publisher_source.pop(old, None)

    def feeds_of(self, publisher_id: int) -> set[int]:
        """The feeds behind a publisher."""
        return {feed for feed, publisher in self.feed_publisher.items() if publisher == publisher_id}

    def same_site(self, title: str, site: str, exclude: int | None = None) -> int | None:
        """The publisher of another feed with this title and this site link, if exactly one.

        A host alone never joins feeds (feed-hosting services, several blogs on one host),
        nor a title alone (many sites are called "Latest News").
        """
        wanted = (fold(title).strip(), lookup_key(site))
        found = {
            self.feed_publisher[feed]
            for feed, (other_title, other_site) in self.feed_sites.items()
            if other_title and other_site and (fold(other_title).strip(), lookup_key(other_site)) == wanted
        } - {exclude}
        return next(iter(found)) if len(found) == 1 else None

    def has_capture(self, feed_id: int, when: datetime, kind: str, digest: str) -> bool:
        """Whether this capture is stored (captures stored before digests match any body)."""
        return (feed_id, when, kind, digest) in self.captures or (feed_id, when, kind, "") in self.captures

    def add_capture(self, feed_id: int, when: datetime, kind: str, digest: str) -> None:
        """Remember a stored capture."""
        self.captures.add((feed_id, when, kind, digest))

    def add_capture_time(self, feed_id: int, when: datetime) -> bool:
        """Record a successful capture; True if it is earlier than one already known."""
        times = self.capture_times[feed_id]
        out_of_order = bool(times) and when < times[-1]
        bisect.insort(times, when)
        return out_of_order

    # -- items --------------------------------------------------------------------
    def lookup(self, publisher_id: int) -> ItemLookup:
        """What identity resolution may ask about one publisher's stored items."""
        return _PublisherItems(self, publisher_id)

    def add_item(self, item: ItemState, keys: tuple[str, ...] | list[str], identity: str) -> None:
        """Register a new item under its stored identity, its identity keys and its URL."""
        self.items[item.item_id] = item
        self.identities.add((item.publisher_id, identity))
        self.register_keys(item, keys)

    def has_identity(self, publisher_id: int, identity: str) -> bool:
        """Whether an item of the publisher is stored under this identity already."""
        return (publisher_id, identity) in self.identities

    def register_keys(self, item: ItemState, keys: tuple[str, ...] | list[str]) -> None:
        """Let the item be found by more identity keys (a second feed's GUID or link, say).

        A GUID stands for one item; a link (or title, or text) may stand for several.
        """
        for key in keys:
            if key.startswith("guid:"):
                self.item_keys.setdefault((item.publisher_id, key), item.item_id)
            else:
                holders = self.link_items[(item.publisher_id, key)]
                if item.item_id not in holders:
                    holders.append(item.item_id)
        canonical = canonical_url(item.url)
        if canonical:
            self.item_by_url.setdefault(canonical, item.item_id)

    def see(self, item: ItemState, feed_id: int, when: datetime) -> bool:
        """Note that a feed showed the item at `when`; True if that moved its first sighting."""
        self.feed_items[feed_id].add(item.item_id)
        previous = item.feeds.get(feed_id)
        if previous is None or when < previous:
            item.feeds[feed_id] = when
        if when < item.first_seen_at:
            item.first_seen_at, item.first_feed_id = when, feed_id
            return True
        return False

    def add_credit(self, item: ItemState, credit: Attribution) -> None:
        """Remember a credit an item gives, and which article URL it names."""
        item.credits.append(credit)
        url = canonical_url(credit.url) if credit.url else None
        if url:
            self.credited_by[url].add(item.item_id)

    def linked_by_credit(self, item: ItemState) -> set[int]:
        """Items this one credits by their exact URL, and items that credit this one so."""
        linked = set(self.credited_by.get(canonical_url(item.url) or "", ()))
        for credit in item.credits:
            target = self.item_by_url.get(canonical_url(credit.url) or "") if credit.url else None
            if target is not None:
                linked.add(target)
        linked.discard(item.item_id)
        return linked

    # -- boilerplate --------------------------------------------------------------
    def count_paragraphs(self, item: ItemState, keys: tuple[int, ...]) -> set[int]:
        """Count an item's paragraphs for its publisher; return keys that just became boilerplate."""
        stats = self.paragraph_items[item.publisher_id]
        known = self.boilerplate[item.publisher_id]
        fresh: set[int] = set()
        for key in set(keys):
            holders = stats[key]
            holders.add(item.item_id)
            if key not in known and len(holders) >= self.boilerplate_min_items:
                known.add(key)
                fresh.add(key)
        return fresh

    def items_with_paragraphs(self, publisher_id: int, keys: set[int]) -> set[int]:
        """Items of a publisher holding any of the given paragraph keys."""
        stats = self.paragraph_items[publisher_id]
        return set().union(*(stats.get(k, set()) for k in keys)) if keys else set()

    # -- candidates and matches ---------------------------------------------------
    def index_version(self, item_id: int, version: VersionState) -> None:
        """Index a version's story and its lead, replacing what it had."""
        self.index.add((item_id, version.number, "story"), version.story)
        self.index.add((item_id, version.number, "lead"), version.lead)

    def candidates(self, version: VersionState) -> set[int]:
        """Items whose story or lead collides with this version's story or lead."""
        keys = self.index.query(version.story) + self.index.query(version.lead)
        return {key[0] for key in keys}

    def set_edges(self, item_id: int, edges: list[Edge]) -> set[int]:
        """Replace an item's matches; return every item whose matches changed."""
        touched = {item_id}
        for other in list(self.edges[item_id]):
            self.edges[other].pop(item_id, None)
            touched.add(other)
        self.edges[item_id] = {}
        for edge in edges:
            self.add_edge(edge)
            touched.add(edge.b if edge.a == item_id else edge.a)
        return touched

    def add_edge(self, edge: Edge) -> None:
        """Record a match in both directions."""
        self.edges[edge.a][edge.b] = edge
        self.edges[edge.b][edge.a] = edge

    # -- time and credit evidence ---------------------------------------------------
    def estimated_time(self, item: ItemState) -> tuple[datetime, str]:
        """When the item was most credibly published, and the evidence for that.

        A claimed date is believed unless the feed where the item was first seen was
        captured after that date (beyond the tolerance) without it, or the date lies
        after the item was first seen; then the first sighting is the estimate.
        """
        first = item.first_seen_at
        claimed = item.claimed_at
        if claimed is None:
            return first, "no claimed date: first seen"
        if claimed > first + self.claim_tolerance:
            return first, f"claimed {claimed.isoformat()} is after first sighting: first seen"
        times = self.capture_times.get(item.first_feed_id, [])
        earlier = bisect.bisect_left(times, first)
        if earlier:
            previous = times[earlier - 1]
            if previous > claimed + self.claim_tolerance:
                return first, (
                    f"claimed {claimed.isoformat()} disproved: feed captured at "
                    f"{previous.isoformat()} without it; first seen"
                )
        return min(claimed, first), "claimed date, consistent with captures"

    def _credit_target(self, credit: Attribution) -> tuple[int | None, int | None]:
        """(credited item, credited publisher) for one credit, either possibly unknown."""
        item = None
        publisher = None
        url = canonical_url(credit.url) if credit.url else None
        if url:
            item = self.item_by_url.get(url)
            feed = self.feed_ids.get(credit.url or "") or self.feed_ids.get(url)
            if feed is not None:
                publisher = self.feed_publisher[feed]
            elif item is not None:
                publisher = self.items[item].publisher_id
            else:
                publisher = self.publisher_at(host_of(url))
        if publisher is None and credit.name:
            name = fold(credit.name).strip()
            publisher = self.publisher_named(name) or self.publisher_at(name.removeprefix("www."))
        return item, publisher

    def facts(self, item_id: int) -> ItemFacts:
        """What provenance needs to know of one item."""
        item = self.items[item_id]
        estimated, evidence = self.estimated_time(item)
        credited_items: set[int] = set()
        credited_publishers: set[int] = set()
        labels: list[str] = []
        names: list[tuple[int, str]] = []
        unresolved: str | None = None
        for credit in item.credits:
            target_item, target_publisher = self._credit_target(credit)
            if target_publisher == item.publisher_id:
                continue  # the publisher's own footer: no credit to anyone else
            if target_item is None and target_publisher is None:
                name = credit.name or credit.url
                if name:
                    unresolved = unresolved or name
                    labels.append(f"{credit.kind}: {name} (not followed)")
                continue
            if target_item is not None:
                credited_items.add(target_item)
            if target_publisher is not None:
                credited_publishers.add(target_publisher)
                names.append((target_publisher, self.publisher_names.get(target_publisher, "?")))
                labels.append(f"{credit.kind}: {names[-1][1]}")
        story_size = max((v.story.size for v in item.versions), default=0)
        return ItemFacts(
            item_id=item.item_id,
            url=item.url,
            publisher_id=item.publisher_id,
            estimated_at=estimated,
            first_seen_at=item.first_seen_at,
            time_evidence=evidence,
            credited_items=frozenset(credited_items),
            credited_publishers=frozenset(credited_publishers),
            credit_labels=tuple(labels),
            credited_names=tuple(dict.fromkeys(names)),
            unresolved_credit=unresolved,
            story_size=story_size,
            full_size=max((int(v.full.size) for v in item.versions), default=0),
        )


class _PublisherItems(ItemLookup):
    """The corpus seen through `ItemLookup`, for one publisher."""

    def __init__(self, corpus: Corpus, publisher_id: int) -> None:
        self.corpus = corpus
        self.publisher_id = publisher_id

    def by_guid(self, key: str) -> int | None:
        return self.corpus.item_keys.get((self.publisher_id, key))

    def under(self, key: str) -> list[KnownItem]:
        found = []
        for item_id in self.corpus.link_items.get((self.publisher_id, key), ()):
            item = self.corpus.items[item_id]
            found.append(
                KnownItem(item_id, item.guid, item.title, item.claimed_at, frozenset(item.raw_hashes), frozenset(item.feeds))
            )
        return found
