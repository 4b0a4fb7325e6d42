"""The page fetcher's SQL on SQLite and PostgreSQL: pages due (new, failed, read long ago and
asked again with validators), the feeds an item came by, page states counted, and the one
worker of a database that fetches pages."""

from __future__ import annotations

from datetime import timedelta
from html import escape

from tests.builders import T0, Item, article, capture, hours, rss
from tests.conftest import make_pipeline
from tracker.model import PageCapture
from tracker.store.database import open_database
from tracker.store.pagefetch import PageFetcherSeat, failing_pages, failure_kinds, feed_urls_of, page_states

FEED = "https://daily.example/rss"
OTHER = "https://daily.example/world/rss"
LINKS = [f"https://daily.example/2025/story-{n}" for n in range(3)]


def page(url: str, n: int) -> bytes:
    body = "".join(f"<p>{escape(p)}</p>" for p in article(500 + n, paragraphs=6))
    return f"<!doctype html><html><head><title>Story {n}</title></head><body><article>{body}</article></body></html>".encode()


def test_pages_due_revisits_feeds_and_states(any_db_url: str) -> None:
    pipeline = make_pipeline(any_db_url, [{"url": FEED, "publisher": "Daily"}, {"url": OTHER, "publisher": "Daily"}])
    items = [Item(f"Story {n}", link, ["A short summary of the story."], T0, guid=link) for n, link in enumerate(LINKS)]
    pipeline.ingest([capture(FEED, T0, rss("Daily", "https://daily.example/", items, full_content=False)),
                     capture(OTHER, T0 + hours(1), rss("Daily World", "https://daily.example/", items[:1], full_content=False))])
    wanted = pipeline.pages_wanted(10, T0 + hours(2), seen_since=T0 - hours(1))
    assert sorted(r.url for r in wanted) == LINKS and all(r.etag is None for r in wanted)
    assert pipeline.pages_wanted(10, T0 + hours(2), seen_since=T0 + hours(1)) == []  # too old to fetch
    ids = {r.url: r.item_id for r in wanted}
    with pipeline.sessions() as session:
        assert feed_urls_of(session, [ids[LINKS[0]], ids[LINKS[1]]]) == {ids[LINKS[0]]: {FEED, OTHER}, ids[LINKS[1]]: {FEED}}
    read_at = T0 + hours(2)
    headers = (("Content-Type", "text/html"), ("ETag", '"v1"'), ("Last-Modified", "Tue, 07 Jan 2025 09:00:00 GMT"))
    pipeline.process_page(PageCapture(LINKS[0], LINKS[0], read_at, 200, headers, page(LINKS[0], 0)))
    pipeline.process_page(PageCapture(LINKS[1], LINKS[1], read_at, None, (), None, error="connect timed out", error_kind="timeout"))
    pipeline.process_page(PageCapture(LINKS[2], LINKS[2], read_at, 200, (("Content-Type", "application/pdf"),), None,
                                      error="Content-Type 'application/pdf' is not HTML", error_kind="not_html"))
    with pipeline.sessions() as session:
        assert page_states(session) == {"wanted": 0, "used": 1, "not_used": 0, "failed": 1, "gone": 1}
        assert failure_kinds(session) == {"timeout": 1, "not_html": 1}
        assert {(url, kind) for url, kind, _, _ in failing_pages(session)} == {(LINKS[1], "timeout"), (LINKS[2], "not_html")}
    later = read_at + timedelta(hours=1)
    # The failed page is due after its back-off; the page read is due again only to a revisit, with its validators.
    assert [r.url for r in pipeline.pages_wanted(10, later)] == [LINKS[1]]
    again = pipeline.pages_wanted(10, later, revisit_before=read_at)
    assert [r.url for r in again] == [LINKS[1], LINKS[0]]  # new work before revisits
    assert (again[1].etag, again[1].last_modified) == ('"v1"', "Tue, 07 Jan 2025 09:00:00 GMT")
    # A 304 keeps the page and puts the next revisit off.
    pipeline.process_page(PageCapture(LINKS[0], LINKS[0], later, 304, (("ETag", '"v1"'),), None))
    assert [r.url for r in pipeline.pages_wanted(10, later, revisit_before=read_at)] == [LINKS[1]]


def test_one_worker_of_a_database_holds_the_page_fetchers_seat(any_db_url: str) -> None:
    first, second = open_database(any_db_url), open_database(any_db_url)
    a, b = PageFetcherSeat(first.kw["bind"]), PageFetcherSeat(second.kw["bind"])
    postgres = any_db_url.startswith("postgresql")
    try:
        assert a.held() and a.held()
        assert b.held() is not postgres  # SQLite: one daemon per file, always seated
        a.release()  # a worker stopping (or dying: its connection closes)
        assert b.held()
        assert a.held() is not postgres
    finally:
        a.release()
        b.release()
        first.kw["bind"].dispose()
        second.kw["bind"].dispose()


def test_a_404_is_tried_again_before_the_page_is_given_up_but_a_410_is_final(any_db_url: str) -> None:
    """A page is often linked from its feed before the site serves it: one early 404 must not
    lose it. 404s are retried with the back-off and given up after NOT_FOUND_TRIES; 410 at once."""
    from tracker.store.pages import NOT_FOUND_TRIES, backoff

    pipeline = make_pipeline(any_db_url, [{"url": FEED, "publisher": "Daily"}])
    items = [Item(f"Story {n}", link, ["A short summary of the story."], T0, guid=link) for n, link in enumerate(LINKS[:2])]
    pipeline.ingest([capture(FEED, T0, rss("Daily", "https://daily.example/", items, full_content=False))])
    early, removed = LINKS[0], LINKS[1]
    when = T0 + hours(1)
    pipeline.process_page(PageCapture(removed, removed, when, 410, (), None, error="HTTP 410", error_kind="http_status"))
    for attempt in range(1, NOT_FOUND_TRIES):
        pipeline.process_page(PageCapture(early, early, when, 404, (), None, error="HTTP 404", error_kind="http_status"))
        with pipeline.sessions() as session:
            assert page_states(session)["failed"] == 1 and page_states(session)["gone"] == 1
        when += backoff(attempt)
        assert [r.url for r in pipeline.pages_wanted(10, when)] == [early]  # due again after its back-off
    # The page is served at last: it is read and used.
    pipeline.process_page(PageCapture(early, early, when, 200, (("Content-Type", "text/html"),), page(early, 0)))
    with pipeline.sessions() as session:
        assert page_states(session) == {"wanted": 0, "used": 1, "not_used": 0, "failed": 0, "gone": 1}


def test_a_page_that_answers_404_every_time_is_given_up(any_db_url: str) -> None:
    from tracker.store.pages import NOT_FOUND_TRIES, backoff

    pipeline = make_pipeline(any_db_url, [{"url": FEED, "publisher": "Daily"}])
    link = LINKS[0]
    pipeline.ingest([capture(FEED, T0, rss("Daily", "https://daily.example/", [Item("Story", link, ["A short summary."], T0, guid=link)],
                                           full_content=False))])
    when = T0 + hours(1)
    for attempt in range(1, NOT_FOUND_TRIES + 1):
        pipeline.process_page(PageCapture(link, link, when, 404, (), None, error="HTTP 404", error_kind="http_status"))
        when += backoff(attempt)
    with pipeline.sessions() as session:
        assert page_states(session)["gone"] == 1
    assert pipeline.pages_wanted(10, when + timedelta(days=2)) == []
