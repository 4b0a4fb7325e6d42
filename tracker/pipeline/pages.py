"""The pipeline's page half: an article page in, its item's full text and credits out.

A summary-only feed's entry says a sentence; its page says the article, which mirrors
copy. A page (fetched live, or found in an archive) is read by `tracker.reader.pages`, stored,
and joined to the item whose link it answers for — or kept until that item arrives, so
that the result does not depend on which came first. A joined page's article becomes a
version of the item (`from_page`), fingerprinted and matched as a new version is: the
item is matched again and its group decided again. The item's dates are its feed's: a
page never dates an item earlier. A page whose canonical link names another site's URL
credits it, as "appeared first on" does.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import xxhash
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from tracker.detection.identity import content_digest, host_of, link_key, lookup_hash, site_of, text_hash
from tracker.detection.normalise import credits_in, document_from_paragraphs
from tracker.errors import PageError
from tracker.model import Attribution, IngestReport, NewText, PageCapture, PageRedirect, PageRequest, utcnow
from tracker.reader.pages import Article, PageSetting, extract_article, needs_page, use_page
from tracker.store import items, locks, matching
from tracker.store import pages as page_store
from tracker.store.pages import PageState, StoredPage
from tracker.timefmt import iso

if TYPE_CHECKING:
    from tracker.pipeline.capture import Pipeline

log = logging.getLogger(__name__)
_RETRIES = 5
# Page failures that fetching again will not mend.
_FINAL_KINDS = ("too_large", "not_html", "blocked_address", "invalid_url")
_URL_MAX = 2000


def _url_locks(hashes: set[str]) -> set[int]:
    return {int(h, 16) for h in hashes}


# A feed whose latest items link to this many sites or more is a link blog's or an
# aggregator's, unless most of them link to the page's site.
LINK_BLOG_SITES = 3


def _sites_of(hosts: Iterable[str]) -> set[str | None]:
    """The sites of a publisher's hosts."""
    return {site_of(f"http://{host}/") for host in hosts}


def _links_elsewhere(links: Sequence[str], sites: set[str]) -> bool:
    """Whether a publisher's latest links (`page_store.latest_links`) are a link blog's or an
    aggregator's as seen from these sites: to three sites or more, to these in at most half
    of them. A newspaper whose feed names another of its domains, links through a feed
    proxy, or splits its items over two sites of its own is none."""
    linked = {site_of(link) for link in links} - {None}
    return len(linked) >= LINK_BLOG_SITES and 2 * sum(site_of(link) in sites for link in links) <= len(links)


def same_site(url: str, page: StoredPage | PageCapture) -> bool:
    """Whether `url` is on the site of the page (asked or answered URL)."""
    return site_of(url) in (site_of(page.url), site_of(page.final_url))


ReadArticle = tuple[Article | None, str | None, str | None]


def read_article(page: PageCapture) -> ReadArticle:
    """A fetched page's article, or why there is none: (article, error, error kind)."""
    if page.body is None:
        return None, None, None
    try:
        article = extract_article(page.body, page.final_url, page.header("Content-Type"), page.fetched_at)
    except PageError as refused:
        return None, refused.message, refused.kind
    return (article, None, None) if article is not None else (None, "no article text found on the page", "no_article")


class PagesMixin:
    """`Pipeline`'s methods for pages (kept apart: the feed half is long enough)."""

    def process_page(self: Pipeline, page: PageCapture, read: ReadArticle | None = None) -> IngestReport:
        """Store one page fetch (or its failure) and everything it teaches; one transaction.

        The article becomes the text of the items whose link the page answers for (when
        their feed's `pages` setting says so); a page no item links to yet is kept for the
        item to join when it arrives (`report.pages_unmatched`). `read` is the page's
        `read_article`, when the caller read it already (outside any lock: it is the slow part).
        """
        return self._page_transaction(lambda session, report: self._store_page(session, page, report, read))

    def process_redirect(self: Pipeline, redirect: PageRedirect) -> IngestReport:
        """An archived redirect: the page stored at its target answers for its URL too."""
        return self._page_transaction(lambda session, report: self._store_redirect(session, redirect, report))

    def pages_wanted(
        self: Pipeline, limit: int = 100, now: datetime | None = None, seen_since: datetime | None = None,
        revisit_before: datetime | None = None,
    ) -> list[PageRequest]:
        """Items whose page should be fetched now, oldest due first (for the live fetcher);
        with `revisit_before`, pages read before then are due again (conditional GET)."""
        with self.sessions() as session:
            return page_store.wanted_pages(session, now or utcnow(), limit, seen_since, revisit_before)

    def unjoined_pages(self: Pipeline) -> int:
        """How many stored pages with an article no item links to."""
        with self.sessions() as session:
            return page_store.unjoined_count(session)

    def _page_transaction(self: Pipeline, work) -> IngestReport:  # type: ignore[no-untyped-def]
        for attempt in range(_RETRIES):
            report = IngestReport()
            try:
                with self.sessions.begin() as session:
                    self._writing(session)
                    work(session, report)
                    self._written(session)
                return report
            except SQLAlchemyError as error:
                self.reload()
                if locks.retryable(error) and attempt < _RETRIES - 1:
                    continue
                if isinstance(error, (OperationalError, InterfaceError)):
                    raise
                # The database refused what this page brought: nothing of it is stored, the run goes on.
                report = IngestReport(pages_failed=1)
                message = " ".join(str(getattr(error, "orig", None) or error).split())[:300]
                report.warnings.append(f"page could not be stored: {message}")
                return report
            except BaseException:
                self.reload()
                raise
        raise AssertionError("unreachable")

    # -- a page arrives -------------------------------------------------------------------
    def _store_page(self: Pipeline, session: Session, page: PageCapture, report: IngestReport, read: ReadArticle | None = None) -> None:
        if any(len(u) > _URL_MAX or not u.isprintable() for u in (page.url, page.final_url, *page.redirects)):
            report.pages_failed += 1
            report.warnings.append(f"page {page.url[:80]!r}: not a usable URL (over {_URL_MAX} characters, or control characters); skipped")
            return
        keys = {lookup_hash(page.url), lookup_hash(page.final_url), *(lookup_hash(u) for u in page.redirects)}
        locks.lock(session, locks.URL, _url_locks(keys))
        if page.body is None or page.error or (page.status is not None and not 200 <= page.status < 300):
            self._page_failed(session, page, keys, report)
            return
        body_hash = content_digest(page.body)
        if page_store.has_page(session, lookup_hash(page.url), body_hash):
            report.skipped_known += 1
            under = page_store.links_under(session, page_store.redirected_from(session, keys))
            joined = self._page_items(session, under, (page.url, page.final_url), text=True)
            page_store.record_unchanged(session, [i for i, _ in joined], page.fetched_at)
            self._settle_unjoined(session, under, joined, None, page.fetched_at)
            return
        article, error, kind = read if read is not None else read_article(page)
        canonical = article.canonical_url if article else None
        # The page answers for the URLs it was fetched at, never for the one it declares
        # canonical: a page on a shared host (two blogs under github.io, two authors on one
        # host) would put its text into the item another publisher links there.
        keys = page_store.redirected_from(session, keys)
        page_id = page_store.insert_page(session, {
            "url": page.url, "url_hash": lookup_hash(page.url), "final_url": page.final_url, "fetched_at": page.fetched_at,
            "source": page.source, "status": page.status, "content_type": page.header("Content-Type"),
            "bytes": len(page.body), "body_hash": body_hash, "etag": page.header("ETag"),
            "last_modified": page.header("Last-Modified"), "title": article.title if article else None,
            "site_name": article.site_name if article else None, "canonical_url": canonical,
            "published_at": article.date if article else None, "text": article.text if article else None,
            "words": article.words if article else 0, "error": error, "error_kind": kind,
        })
        page_store.add_keys(session, page_id, keys)
        report.pages += 1
        if article is None:
            report.pages_failed += 1
            report.warnings.append(f"page {page.url[:200]} at {iso(page.fetched_at)}: {error}")
            joined = self._page_items(session, page_store.links_under(session, keys), (page.url, page.final_url))
            if joined:
                final = 410 if kind in _FINAL_KINDS else None
                page_store.record_failure(session, [i for i, _ in joined], kind or "page", error or "", page.fetched_at, final)
            return
        stored = StoredPage(page_id, page.url, page.final_url, page.fetched_at, article.text, article.words, canonical, body_hash)
        self._join(session, stored, keys, report, page.header("ETag"), page.header("Last-Modified"))

    def _page_failed(self: Pipeline, session: Session, page: PageCapture, keys: set[str], report: IngestReport) -> None:
        """A fetch that brought no page: data on the items it was for (retried with backoff)."""
        under = page_store.links_under(session, page_store.redirected_from(session, keys))
        joined = [i for i, _ in self._page_items(session, under, (page.url, page.final_url))]
        if page.status == 304:
            page_store.record_unchanged(session, joined, page.fetched_at)
            return
        report.pages_failed += 1
        message = page.error or f"HTTP {page.status}"
        report.warnings.append(f"page {page.url[:200]} at {iso(page.fetched_at)}: {message}")
        final = 410 if page.error_kind in _FINAL_KINDS else page.status
        page_store.record_failure(session, joined, page.error_kind or "http", message, page.fetched_at, final)

    def _store_redirect(self: Pipeline, session: Session, redirect: PageRedirect, report: IngestReport) -> None:
        if len(redirect.url) > _URL_MAX or len(redirect.location) > _URL_MAX:
            return
        source, target = lookup_hash(redirect.url), lookup_hash(redirect.location)
        if source == target:
            return
        locks.lock(session, locks.URL, _url_locks({source, target}))
        if not page_store.add_redirect(session, redirect.url, source, target):
            return
        # Pages already stored at the target (or further on) answer for the source now.
        sources = page_store.redirected_from(session, {source})
        for found in page_store.pages_under(session, {target}).get(target, [])[:1]:
            page_store.add_keys(session, found.page_id, sources)
            self._join(session, found, page_store.page_keys(session, [found.page_id])[found.page_id], report, None, None)

    # -- joining pages and items ------------------------------------------------------------
    def _page_items(
        self: Pipeline, session: Session, under: Mapping[int, tuple[int, str]], urls: Sequence[str], text: bool = False,
    ) -> list[tuple[int, int]]:
        """(item, publisher) of the items a page is the page of, among those whose link leads
        to it (`under`: `page_store.links_under` its URL hashes); `text`: whose text it may
        be, else whose failure it is.

        Where the page is is where it was served from (the last of `urls`), wherever the
        item's link pointed: a link blog's own redirector leads to another's article. An
        item's page is on its publisher's own host (its feeds' or their site links'), on
        its own site (subdomains aside) at a host no other publisher is known at, or on a
        site no other publisher is known at: a syndicator keeping the original's link, or a
        link blog, links to another publisher's article, whose text is not theirs — also
        when both blog on one shared host (alice.substack.com, mallory.substack.com). On a
        site no publisher is known at, its text is not a link blog's (`_links_elsewhere`): a
        link blog's links to sites nobody follows are not its text either.
        Several items of one publisher under one URL (a shared news page): the page is none
        of theirs. Nor is the text of a page its link led to from its publisher's own site to
        another its text.
        """
        if not under:
            return []
        hosts_of = self.directory.hosts_of
        sites_of = {publisher: _sites_of(hosts) for publisher, hosts in hosts_of.items()}
        hosts, sites = {host_of(urls[-1])} - {None}, {site_of(urls[-1])} - {None}
        by_publisher: dict[int, list[int]] = {}
        for item, (publisher, link) in under.items():
            others = [other for other in hosts_of if other != publisher]
            if text and site_of(link) in sites_of.get(publisher, set()) - sites:
                # Its link on its own site led away from it: to a consent wall, a paywall, a
                # login page (the same text for every site sending readers there), not its article.
                continue
            if hosts & hosts_of.get(publisher, set()):
                mine = True
            elif sites & sites_of.get(publisher, set()):
                mine = not any(hosts & hosts_of[other] for other in others)
            else:
                mine = not any(sites & sites_of[other] for other in others) and not (
                    text and sites and _links_elsewhere(page_store.latest_links(session, publisher), sites))
            if mine:
                by_publisher.setdefault(publisher, []).append(item)
        return [(ids[0], publisher) for publisher, ids in by_publisher.items() if len(ids) == 1]

    def _join(
        self: Pipeline, session: Session, page: StoredPage, keys: set[str], report: IngestReport,
        etag: str | None, last_modified: str | None,
    ) -> None:
        under = page_store.links_under(session, keys)
        joined = self._page_items(session, under, (page.url, page.final_url), text=True)
        self._settle_unjoined(session, under, joined, page.page_id, page.fetched_at)
        if not joined:
            report.pages_unmatched += 1
            return
        states = page_store.states_of(session, [i for i, _ in joined])
        rematch: set[int] = set()
        for item_id, publisher_id in joined:
            used, changed = self._apply_page(session, item_id, publisher_id, page, states.get(item_id), etag, last_modified)
            report.pages_used += used
            rematch |= changed
        if rematch:
            dirty = self.detector.match(session, rematch)
            self.detector.decide(session, dirty, lambda: self._current(session), report)
            self.alerts.enqueue(session, report.new_copies, report.changed_copies)

    @staticmethod
    def _settle_unjoined(
        session: Session, under: Mapping[int, tuple[int, str]], joined: Sequence[tuple[int, int]], page_id: int | None,
        fetched_at: datetime,
    ) -> None:
        """Items whose link leads to a page that is none of theirs (one of several items of a
        publisher under one URL, a link to another's site) want it no more: asked for again,
        it would be fetched at every turn of the daemon, for as long as they are young."""
        others = under.keys() - {item for item, _ in joined}
        for item_id, state in sorted(page_store.states_of(session, others).items()):
            if state.state == "wanted":
                page_store.set_state(session, item_id, True, {
                    "state": "not_used", "page_id": page_id, "tried_at": fetched_at, "next_try_at": None,
                    "last_error": "the page at its link is not its own (another item's, or another site's)", "error_kind": None,
                })

    def _apply_page(
        self: Pipeline, session: Session, item_id: int, publisher_id: int, page: StoredPage, state: PageState | None,
        etag: str | None, last_modified: str | None,
    ) -> tuple[bool, set[int]]:
        """Make a page the item's page: its canonical link a credit or a key, its article the
        item's text when the setting says so. (used, items to match again)."""
        setting = state.setting if state else "auto"
        if setting == "never":
            return False, set()
        rematch: set[int] = set()
        canonical = page.canonical_url
        credits: list[Attribution] = []
        if canonical and not same_site(canonical, page):
            # A page declaring another site's URL its canonical form credits that article.
            credits.append(Attribution("canonical", None, canonical))
        elif canonical:
            items.add_keys(session, publisher_id, item_id, [key for key in [link_key(canonical)] if key])
        used = use_page(page_store.feed_words(session, item_id), page.words, setting)  # type: ignore[arg-type]
        if used:
            rematch |= self._page_version(session, publisher_id, item_id, page)
            credits += credits_in(page.text.split("\n"))
        given = items.credits_of(session, [item_id]).get(item_id, [])
        for credit in dict.fromkeys(credits):
            if credit not in given:
                items.add_credit(session, item_id, credit)
                rematch.add(item_id)
        page_store.set_state(session, item_id, state is not None, {
            "state": "used" if used else "not_used", "page_id": page.page_id, "tried_at": page.fetched_at, "next_try_at": None,
            "last_error": None, "error_kind": None, "etag": etag, "last_modified": last_modified, "setting": setting,
        })
        return used, rematch

    def _page_version(self: Pipeline, session: Session, publisher_id: int, item_id: int, page: StoredPage) -> set[int]:
        """The article as a new version of the item (unless it has that text already)."""
        title = items.load_items(session, [item_id])[item_id].title
        document = document_from_paragraphs(page.text.split("\n"))
        if items.has_text(session, item_id, text_hash(title, document.paragraphs)):
            return set()
        versions = matching.versions_of(session, [item_id])[item_id]
        raw = xxhash.xxh3_128_hexdigest(f"page\x00{page.body_hash}".encode())
        text = NewText(item_id, tuple(versions), title, raw, document, page.fetched_at, from_page=True)
        return self._store_versions(session, publisher_id, [text], None)

    def _page_setting(self: Pipeline, feed_url: str) -> PageSetting:
        subscription = self.subscriptions.get(feed_url)
        return subscription.pages if subscription is not None else "auto"

    def _wants_page(self: Pipeline, feed_url: str, feed_text: str) -> bool:
        """Whether a new item of this feed, with this feed text, wants its page (tracker.reader.pages.needs_page)."""
        return needs_page(feed_text, self._page_setting(feed_url))

    def _pages_for_new_items(
        self: Pipeline, session: Session, feed_url: str, new: Sequence[tuple[int, int, str | None, bool]],
        report: IngestReport,
    ) -> set[int]:
        """New items of one capture (id, publisher, link, whether its page is wanted): mark
        those whose page is wanted, and join the pages stored before them. Returns the items
        to match again."""
        setting = self._page_setting(feed_url)
        hashes = {lookup_hash(url) for _, _, url, _ in new if url}
        locks.lock(session, locks.URL, _url_locks(hashes))
        waiting = page_store.pages_under(session, hashes) if hashes else {}
        rematch: set[int] = set()
        # A publisher's sites and latest links, read once for the capture (its items share them).
        sites: dict[int, set[str | None]] = {}
        links: dict[int, list[str]] = {}

        def link_blogs(publisher_id: int, url: str | None) -> bool:
            """Whether the item's link is a link blog's to another site's article: its page is not asked for."""
            site = site_of(url) if url else None
            if site is None:
                return False
            if publisher_id not in sites:
                sites[publisher_id] = _sites_of(self.directory.hosts_of.get(publisher_id, ()))
            if site in sites[publisher_id]:
                return False
            if publisher_id not in links:
                links[publisher_id] = page_store.latest_links(session, publisher_id)
            return _links_elsewhere(links[publisher_id], {site})

        for item_id, publisher_id, url, wanted in new:
            if setting == "never" or wanted:
                kind = "not_used" if setting == "never" or link_blogs(publisher_id, url) else "wanted"
                page_store.set_state(session, item_id, False, {"state": kind, "setting": setting})
                state: PageState | None = PageState(item_id, kind, setting, None, 0)
            else:
                state = None
            # Oldest first, as they would have been joined had the item come before them.
            for page in reversed(waiting.get(lookup_hash(url), []) if url else []):
                keys = page_store.page_keys(session, [page.page_id])[page.page_id]
                under = page_store.links_under(session, keys)
                if (item_id, publisher_id) in self._page_items(session, under, (page.url, page.final_url), text=True):
                    used, changed = self._apply_page(session, item_id, publisher_id, page, state, None, None)
                    report.pages_used += used
                    rematch |= changed
                    state = PageState(item_id, "used" if used else "not_used", setting, page.page_id, 0)
        return rematch
