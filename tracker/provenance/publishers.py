"""Who publishes what: publishers and their feeds, as identity and credits need them.

A cache of the `publishers`, `feeds` and `feed_urls` tables, bounded by the number of feeds
(never by the corpus): `tracker.store.publishers` loads it and says when another process
changed those tables, so that every write works from the current directory.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict

from tracker.detection.identity import canonical_url, host_of, lookup_key, site_of
from tracker.detection.normalise import fold


def _name_key(name: str) -> str:
    return fold(name).strip()


# Words too common in publishers' names to tie a name to a site by themselves.
_GENERIC = frozenset({
    "news", "daily", "press", "times", "post", "media", "online", "world", "today", "journal", "herald", "review",
    "report", "tribune", "network", "radio", "channel", "agency", "wire", "group", "global", "live", "info", "portal",
})
# Little words a name's initials leave out ("The New York Times" is nyt).
_SMALL = frozenset({"the", "of", "and", "de", "la", "le", "el", "al", "der", "die", "das"})


def _letters(text: str) -> str:
    """Lower-case letters and digits, accents taken off: 'Bücher-Zeit' is 'bucherzeit'."""
    plain = unicodedata.normalize("NFKD", fold(text))
    return "".join(c for c in plain if c.isalnum() and not unicodedata.combining(c))


def name_fits_site(name: str, host: str) -> bool:
    """Whether a publisher's name reads as the name of the site at `host`: 'Khaama Press' at
    khaama.com, 'Agence France-Presse' at afp.com, 'The Washington Post' at washingtonpost.com.

    A feed's title is its own word only: a feed titled "AFP" on another site may take
    credits given to "AFP" by name only if its site is called so too. A name in a script
    the host does not spell (Cyrillic at an ASCII host) cannot be checked, and fits.
    """
    site = site_of(f"http://{host}/") or host
    if "." not in site or site.replace(".", "").isdigit() or ":" in site or site.endswith("localhost"):
        return True  # an address or a local name says nothing of who publishes there
    try:
        site = site.encode("ascii").decode("idna")  # an IDN's own letters, to compare with a name in its script
    except UnicodeError:
        pass
    label, compact = _letters(site.split(".", 1)[0]), _letters(name)
    if not label or not compact or compact.isascii() != label.isascii():
        return True  # nothing to compare: another script, or no letters at all
    words = [w for w in (_letters(w) for w in re.split(r"[\s\-_.,:;/&+]+", fold(name))) if w and w not in _SMALL]
    initials = "".join(w[0] for w in words)
    return (
        _within(label, compact)
        or _within(compact, label)
        or (len(initials) >= 2 and _within(initials, label))
        or any(w not in _GENERIC and _within(w, label) for w in words if len(w) >= 3)
    )


def _within(part: str, whole: str) -> bool:
    """One name's part in the other: anywhere when long enough to mean something, else at
    its start ("ap" in apnews, not in evilapple)."""
    return part in whole if len(part) >= 4 else whole.startswith(part)


def vouched_site(url: str, site: str | None) -> str | None:
    """The site link a feed gives, if the feed is served from that site; else None.

    Anyone can publish a feed titled "Khaama Press" that links to khaama.com: the claim is
    taken (to join Khaama's publisher, to be found at its host) only from a feed on that
    site. A feed served elsewhere (a feed-hosting service, a CDN's domain) is its own
    publisher unless the config names its publisher.
    """
    if not site:
        return None
    served = site_of(url)
    return site if served is not None and served == site_of(site) else None


class Directory:
    """Publishers by id, name and host; feeds by id and URL (old URLs included)."""

    def __init__(self) -> None:
        self.publisher_names: dict[int, str] = {}
        self.publisher_source: dict[int, str] = {}
        self.publishers_by_name: dict[str, set[int]] = defaultdict(set)
        self.publishers_by_host: dict[str, set[int]] = defaultdict(set)
        self.hosts_of: dict[int, set[str]] = defaultdict(set)
        self.feed_ids: dict[str, int] = {}
        self.feed_publisher: dict[int, int] = {}
        self.feed_sites: dict[int, tuple[str | None, str | None]] = {}
        # Feeds by their own title, whatever their publisher came to be called ("AFP (afp.com)"
        # when another feed had taken "AFP" first).
        self.titled: dict[str, set[int]] = defaultdict(set)

    # -- publishers -------------------------------------------------------------------
    def add_publisher(self, publisher_id: int, name: str, host: str | None, source: str = "config") -> None:
        """Register a publisher under its name and, if known, its site's host."""
        self.publisher_names[publisher_id] = name
        self.publisher_source[publisher_id] = source
        self.publishers_by_name[_name_key(name)].add(publisher_id)
        self._add_host(publisher_id, host)

    def rename_publisher(self, publisher_id: int, name: str, source: str) -> None:
        """A publisher named after its feed's URL learns its feed's title."""
        self.publishers_by_name[_name_key(self.publisher_names[publisher_id])].discard(publisher_id)
        self.publisher_names[publisher_id] = name
        self.publisher_source[publisher_id] = source
        self.publishers_by_name[_name_key(name)].add(publisher_id)

    def publisher_named(self, name: str) -> int | None:
        """The publisher a name stands for, if exactly one has it."""
        found = self.publishers_by_name.get(_name_key(name))
        return next(iter(found)) if found and len(found) == 1 else None

    def publisher_credited(self, name: str) -> int | None:
        """The publisher a credit that gives only a name means, if exactly one answers to it:
        named so in the config, or else named so by its feed's title on a site whose name
        the credit's name fits (`name_fits_site`). A feed's own title on a site of another name
        is not enough to take others' credits, nor to hide the site that has the name."""
        key = _name_key(name)
        found = self._answering(key)
        if not found:
            # "Source: The Khaama Press" for Khaama Press, "Guardian" for The Guardian.
            found = self._answering(key[4:] if key.startswith("the ") else f"the {key}")
        # The operator's word first: a publisher the config names so is meant wherever it is.
        meant = {p for p in found if self.publisher_source.get(p) == "config"} or {
            p for p in found if any(name_fits_site(name, host) for host in self.hosts_of.get(p, ()))
        }
        return next(iter(meant)) if len(meant) == 1 else None

    def _answering(self, key: str) -> set[int]:
        """The publishers named so, or whose feed is titled so."""
        return self.publishers_by_name.get(key, set()) | {self.feed_publisher[f] for f in self.titled.get(key, ())}

    def publisher_host(self, publisher_id: int) -> str | None:
        """One host of a publisher's sites, for telling apart two publishers of one name."""
        hosts = self.hosts_of.get(publisher_id)
        return min(hosts) if hosts else None

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

    def _add_host(self, publisher_id: int, host: str | None) -> None:
        if host:
            self.publishers_by_host[host].add(publisher_id)
            self.hosts_of[publisher_id].add(host)

    # -- feeds --------------------------------------------------------------------------
    def add_feed(self, feed_id: int, url: str, publisher_id: int, title: str | None = None, site: str | None = None) -> None:
        """Register a feed, the publisher behind it, and the site it says it belongs to."""
        self.feed_ids[url] = feed_id
        self.feed_publisher[feed_id] = publisher_id
        vouched = vouched_site(url, site)
        self.feed_sites[feed_id] = (title, vouched)
        if title:
            self.titled[_name_key(title)].add(feed_id)
        self._add_host(publisher_id, host_of(url))
        if title is not None:
            self._add_host(publisher_id, host_of(vouched))

    def learn_feed(self, feed_id: int, url: str, title: str | None, site: str | None) -> bool:
        """A feed's title and site link (where `vouched_site`), once known; True if they were
        not known before."""
        if self.feed_sites.get(feed_id, (None, None))[0] is not None:
            return False
        vouched = vouched_site(url, site)
        self.feed_sites[feed_id] = (title, vouched)
        if title:
            self.titled[_name_key(title)].add(feed_id)
        self._add_host(self.feed_publisher[feed_id], host_of(vouched))
        return True

    def move_feed(self, feed_id: int, publisher_id: int) -> None:
        """A feed turns out to be another feed's site's (its first capture said so)."""
        old = self.feed_publisher[feed_id]
        self.feed_publisher[feed_id] = publisher_id
        for host in self.hosts_of.pop(old, set()):
            self.publishers_by_host[host].discard(old)
            self._add_host(publisher_id, host)
        self.publishers_by_name[_name_key(self.publisher_names.pop(old, ""))].discard(old)
        self.publisher_source.pop(old, None)

    def feeds_of(self, publisher_id: int) -> set[int]:
        """The feeds behind a publisher."""
        return {feed for feed, publisher in self.feed_publisher.items() if publisher == publisher_id}

    def feed_at(self, url: str) -> int | None:
        """The feed at a URL, as given or canonical."""
        found = self.feed_ids.get(url)
        if found is None:
            canonical = canonical_url(url)
            found = self.feed_ids.get(canonical) if canonical else None
        return found

    def same_site(self, url: str, title: str, site: str, exclude: int | None = None) -> int | None:
        """The publisher of another feed with this title and this site link, if exactly one,
        for the feed at `url` (only a feed on that site joins it, `vouched_site`).

        A host alone never joins feeds (feed-hosting services, several blogs on one host),
        nor a title alone (many sites are called "Latest News").
        """
        if vouched_site(url, site) is None:
            return None
        wanted = (_name_key(title), lookup_key(site))
        found = {
            self.feed_publisher[feed]
            for feed, (other_title, other_site) in self.feed_sites.items()
            if other_title and other_site and (_name_key(other_title), lookup_key(other_site)) == wanted
        } - {exclude}
        return next(iter(found)) if len(found) == 1 else None
