"""What provenance knows of an item: its credible time and whom it credits.

Pure functions over what the store fetched for one group of items; `tracker.provenance.decide`
decides from the `ItemFacts` made here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from tracker.detection.identity import canonical_url, host_of
from tracker.detection.normalise import fold
from tracker.model import Attribution, Sizes, StoredItem
from tracker.provenance.decide import ItemFacts
from tracker.provenance.publishers import Directory
from tracker.timefmt import iso


def estimated_time(
    first_seen: datetime, claimed: datetime | None, previous_capture: datetime | None, tolerance: timedelta,
    rejected: str | None = None,
) -> tuple[datetime, str]:
    """When the item was most credibly published, and the evidence for that.

    A claimed date is believed unless the feed where the item was first seen was captured
    after that date (beyond the tolerance) without it (`previous_capture`: that feed's last
    successful capture before the first sighting), or the date lies after the first
    sighting; then the first sighting is the estimate. A date string the parser refused
    (`rejected` says why) is no claim at all.
    """
    if claimed is None:
        if rejected:
            return first_seen, f"no claimed date (rejected: {rejected}): first seen"
        return first_seen, "no claimed date: first seen"
    if claimed > first_seen + tolerance:
        return first_seen, f"claimed {iso(claimed)} is after first sighting: first seen"
    if previous_capture is not None and previous_capture > claimed + tolerance:
        return first_seen, (
            f"claimed {iso(claimed)} disproved: feed captured at {iso(previous_capture)} without it; first seen"
        )
    if previous_capture is None:
        # Believed all the same (a new feed's backlog is dated so), but not checked: say so.
        return min(claimed, first_seen), f"claimed date, unchecked: its feed's first capture ({iso(first_seen)}) already had it"
    return min(claimed, first_seen), "claimed date, consistent with captures"


# Where a publisher serves its own articles under another host: its mobile and AMP
# subdomains, and Google's AMP cache, whose path holds the article's own host
# (`www-x-org.cdn.ampproject.org/c/s/www.x.org/a/amp/`). A credit linking there names it.
_SERVING_PREFIXES = ("m.", "mobile.", "amp.")
_AMP_CACHE = re.compile(r"^https?://[^/?#]+\.cdn\.ampproject\.org/(?:[a-z]/)*?(?:s/)?(?P<rest>[^/?#]+\.[^/?#]+(?:[/?#].*)?)$", re.IGNORECASE)


# Credits that name a publisher only when one followed has the name: a dateline's, an author's.
_NAMED_IN_PASSING = ("dateline", "author")
_BYLINE = re.compile(r"^by\s+", re.IGNORECASE)
# RSS's author is "email (Name)": the name, and the mail's domain, may each be a publisher's.
_MAILBOX = re.compile(r"^[^\s@()]+@(?P<host>[\w.-]+\.[a-z]{2,})\s*(?:\((?P<name>[^()]*)\))?$", re.IGNORECASE)


def publisher_at_link(directory: Directory, url: str | None) -> int | None:
    """The one publisher at a link's host, or at the host its mobile or AMP form stands for."""
    cached = _AMP_CACHE.match(url or "")
    host = host_of(canonical_url(f"https://{cached['rest']}" if cached else url))
    if not host:
        return None
    bare = next((host.removeprefix(p) for p in _SERVING_PREFIXES if host.startswith(p) and host.count(".") >= 2), None)
    found = directory.publisher_at(host)
    return found if found is not None or bare is None else directory.publisher_at(bare)


def credit_target(
    credit: Attribution, directory: Directory, items_at: Mapping[str, int], publisher_of: Mapping[int, int]
) -> tuple[int | None, int | None]:
    """(credited item, credited publisher) for one credit, either possibly unknown."""
    item = items_at.get(credit.url) if credit.url else None
    publisher = None
    url = canonical_url(credit.url) if credit.url else None
    if url and credit.url:
        feed = directory.feed_at(credit.url)
        if feed is not None:
            publisher = directory.feed_publisher[feed]
        elif item is not None:
            publisher = publisher_of.get(item)
        else:
            publisher = publisher_at_link(directory, credit.url)
    if publisher is None and credit.name:
        name = fold(credit.name).strip()
        publisher = directory.publisher_credited(name) or directory.publisher_at(name.removeprefix("www."))
    return item, publisher


def any_resolves(
    credits: Iterable[tuple[str | None, str | None]], directory: Directory, items_at: Mapping[str, int],
    publisher_of: Mapping[int, int],
) -> bool:
    """Whether any of these credits, (name, url) that named nobody known, names an item or a publisher now."""
    return any(
        credit_target(Attribution("credit", name, url), directory, items_at, publisher_of) != (None, None) for name, url in credits
    )


def _with_author(credits: Sequence[Attribution], item: StoredItem) -> Sequence[Attribution]:
    """The item's credits and its author's name: an aggregator names its source feed as the
    author, a wire copy "By Reuters" (a credit when the name is another publisher's, `_NAMED_IN_PASSING`)."""
    if not item.author or len(item.author) > 60:
        return credits
    mailbox = _MAILBOX.match(item.author.strip())
    if mailbox:
        return [*credits, Attribution("author", (mailbox["name"] or "").strip() or None, f"https://{mailbox['host']}/")]
    return [*credits, Attribution("author", _BYLINE.sub("", item.author).strip(), None)]


def _link_credits(item: StoredItem, directory: Directory) -> list[tuple[int, str]]:
    """(publisher, how) credited by the item's own link or GUID being another publisher's page.

    An entry whose link is another publisher's page (an aggregator or a planet carrying the
    text, a link blog) names that page as the article: it credits its publisher, so an
    aggregator polled first, with the article's own date, is not its original. So does a
    GUID that is another publisher's permalink (a scraper copying the entry whole)."""
    found = []
    for what, link in (("link to its page", item.url), ("its GUID", item.guid)):
        host_publisher = publisher_at_link(directory, link) if link and "://" in link else None
        if host_publisher is not None and host_publisher != item.publisher_id:
            found.append((host_publisher, what))
    return found


def item_facts(
    item: StoredItem, credits: Sequence[Attribution], sizes: Sizes, previous_capture: datetime | None, tolerance: timedelta,
    directory: Directory, items_at: Mapping[str, int], publisher_of: Mapping[int, int],
) -> ItemFacts:
    """What provenance needs to know of one item."""
    estimated, evidence = estimated_time(item.first_seen_at, item.claimed_at, previous_capture, tolerance, item.claimed_rejected)
    credited_items: set[int] = set()
    credited_publishers: set[int] = set()
    labels: list[str] = []
    names: list[tuple[int, str]] = []
    unresolved: str | None = None
    unknown: list[tuple[str | None, str | None]] = []

    def credit_publisher(publisher: int, how: str) -> None:
        credited_publishers.add(publisher)
        names.append((publisher, directory.publisher_names.get(publisher, "?")))
        labels.append(f"{how}: {names[-1][1]}")

    for credit in _with_author(credits, item):
        target_item, target_publisher = credit_target(credit, directory, items_at, publisher_of)
        if target_publisher == item.publisher_id:
            continue  # the publisher's own footer: no credit to anyone else
        if target_item is None and target_publisher is None:
            if credit.kind in _NAMED_IN_PASSING:
                continue  # a place or a paper's own abbreviation as often as an agency unfollowed
            name = credit.name or credit.url
            if name:
                unresolved = unresolved or name
                labels.append(f"{credit.kind}: {name} (not followed)")
                unknown.append((credit.name, credit.url))
            continue
        if target_item is not None:
            credited_items.add(target_item)
        if target_publisher is not None:
            credit_publisher(target_publisher, credit.kind)
    for host_publisher, what in _link_credits(item, directory):
        if host_publisher not in credited_publishers:
            credit_publisher(host_publisher, what)
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
        unresolved_credits=tuple(unknown),
        story_size=sizes.story,
        full_size=sizes.full,
        claimed_date_rejected=item.claimed_rejected if item.claimed_at is None else None,
        text_from_page=sizes.from_page,
    )
