"""The simulated syndication network behind `tracker demo`, driven by a hand-moved clock.

Every test talks to the real server on 127.0.0.1 over HTTP (urllib) and reads the
feeds with feedparser, as the polling daemon will; only the clock is fake.
"""

from __future__ import annotations

import html
import re
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

import feedparser
import pytest

from protego import Protego

from tracker.demo.articles import ARTICLES, HERALD_ARTICLE, MARKET_WRAPS, DemoArticle
from tracker.demo.network import BACKDATED_ARTICLE, BASE_TIME, DemoFeed, DemoNetwork
from tracker.demo.pages import MOST_READ
from tracker.detection.normalise import story_paragraphs, to_document, tokens
from tracker.reader.pages import extract_article, needs_page, use_page
from tracker.reader.parse import parse_feed

STEP_SECONDS = 10.0
KHAAMA, RU24, DIGEST, MIRRORS, MARKET = ("Khaama Press", "ru24.pro", "Headline Digest",
                                          "Mirror of Mirrors", "Kabul Market Watch")
HERALD, NEWSHUB = "Hindu Kush Herald", "NewsHub24"
RU24_CHROME = ["ru24.pro", "News in English", "Январь", "2025"]
_P = re.compile(r"<p>(.*?)</p>", re.DOTALL)


class FakeClock:
    """A monotonic clock that only moves when told; starts far from zero on purpose."""

    def __init__(self) -> None:
        self.now = 5000.0
        self.origin = self.now

    def __call__(self) -> float:
        return self.now

    def at_step(self, step: float) -> None:
        self.now = self.origin + step * STEP_SECONDS


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def network(clock: FakeClock) -> Iterator[DemoNetwork]:
    with DemoNetwork(seconds_per_step=STEP_SECONDS, clock=clock) as net:
        yield net


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any, bytes]:
    """(status, headers, body) of a GET; 3xx/4xx are answers here, not exceptions."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return reply.status, reply.headers, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def feed_url(network: DemoNetwork, publisher: str) -> str:
    return next(f.url for f in network.feeds if f.publisher == publisher)


def read(network: DemoNetwork, publisher: str) -> Any:
    status, _, body = get(feed_url(network, publisher))
    assert status == 200
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return parsed


def paragraphs(markup: str) -> list[str]:
    return [html.unescape(p).strip() for p in _P.findall(markup)]


def body_of(entry: Any) -> str:
    """The entry's fullest HTML, as the tracker's parse stage would pick it."""
    contents = [c["value"] for c in entry.get("content", ())]
    return max([entry.get("summary", ""), *contents], key=len)


def shingles(text: str) -> set[tuple[str, ...]]:
    words = tokens(text)
    return {tuple(words[i:i + 5]) for i in range(len(words) - 4)}


# --------------------------------------------------------------------------- the articles


def test_articles_are_six_stories_of_four_to_six_paragraphs_of_40_to_80_words() -> None:
    assert len(ARTICLES) == 6
    assert len({a.title for a in ARTICLES}) == len({a.slug for a in ARTICLES}) == 6
    for article in (*ARTICLES, *MARKET_WRAPS, HERALD_ARTICLE):
        assert 4 <= len(article.paragraphs) <= 6, article.title
        for paragraph in article.paragraphs:
            assert 40 <= len(paragraph.split()) <= 80, paragraph[:40]
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", article.slug)
        assert article.summary.endswith(".") and article.paragraphs[0].startswith(article.summary)


def test_market_wraps_share_a_title_but_no_text() -> None:
    first, second = MARKET_WRAPS
    assert first.title == second.title
    assert first.title not in {a.title for a in ARTICLES}
    assert not shingles(" ".join(first.paragraphs)) & shingles(" ".join(second.paragraphs))


# --------------------------------------------------------------------------- timeline


def test_step_follows_the_scaled_clock(clock: FakeClock) -> None:
    net = DemoNetwork(seconds_per_step=0.5, clock=clock)
    assert net.step == 0  # not started yet
    with net:
        assert net.step == 0
        clock.now += 0.49
        assert net.step == 0
        clock.now += 0.01
        assert net.step == 1
        clock.now += 5.0
        assert net.step == 11
    with pytest.raises(ValueError):
        DemoNetwork(seconds_per_step=0)


def test_at_step_zero_only_khaama_has_its_first_article(network: DemoNetwork) -> None:
    khaama = read(network, KHAAMA)
    assert [e.title for e in khaama.entries] == [ARTICLES[0].title]
    for publisher in (RU24, DIGEST, MIRRORS, MARKET, HERALD, NEWSHUB):
        assert read(network, publisher).entries == [], publisher


def test_entry_counts_follow_the_script_at_every_step(network: DemoNetwork) -> None:
    assert network.steps == 14
    paths = {f.publisher: f.url.removeprefix(network.base_url) for f in network.feeds}
    for step in range(network.steps + 3):
        articles = min(6, step // 2 + 1)
        expected = {
            KHAAMA: articles + (step >= 3),                       # + Khaama's market wrap
            RU24: max(0, min(6, (step - 1) // 2 + 1)),
            DIGEST: max(0, min(6, (step - 2) // 2 + 1)),
            MIRRORS: max(0, min(6, (step - 3) // 2 + 1)),
            MARKET: int(step >= 5),
            HERALD: int(step >= 1),
            NEWSHUB: int(step >= 3),
        }
        for publisher, count in expected.items():
            # render() is what the server answers; calling it directly, unsanitised, keeps this sweep fast.
            body = network.render(paths[publisher], step).body
            parsed = feedparser.parse(body, sanitize_html=False, resolve_relative_uris=False)
            assert len(parsed.entries) == count, (step, publisher)


def test_nothing_changes_after_the_last_step(network: DemoNetwork, clock: FakeClock) -> None:
    clock.at_step(network.steps - 2)
    before = get(feed_url(network, MIRRORS))[2]
    clock.at_step(network.steps - 1)
    last = {f.url: get(f.url)[2] for f in network.feeds}
    assert last[feed_url(network, MIRRORS)] != before  # the last step does publish something
    clock.at_step(network.steps + 50)
    assert {f.url: get(f.url)[2] for f in network.feeds} == last


def test_claimed_dates_are_simulated_ten_minutes_a_step_newest_first(network: DemoNetwork, clock: FakeClock) -> None:
    clock.at_step(network.steps - 1)
    khaama = read(network, KHAAMA)
    published = [parsedate_to_datetime(e.published) for e in khaama.entries]
    assert published == sorted(published, reverse=True)
    by_title = {e.title: parsedate_to_datetime(e.published) for e in khaama.entries}
    for i, article in enumerate(ARTICLES):
        assert by_title[article.title] == BASE_TIME + timedelta(minutes=10 * 2 * i)
    digest = read(network, DIGEST)
    assert [e.published for e in digest.entries][-1] == (BASE_TIME + timedelta(minutes=20)).isoformat()


def test_one_ru24_copy_claims_a_date_before_the_original(network: DemoNetwork, clock: FakeClock) -> None:
    clock.at_step(network.steps - 1)
    original = {e.title: parsedate_to_datetime(e.published) for e in read(network, KHAAMA).entries}
    copies = {e.title: parsedate_to_datetime(e.published) for e in read(network, RU24).entries}
    backdated = [title for title, claimed in copies.items() if claimed < original[title]]
    assert backdated == [ARTICLES[BACKDATED_ARTICLE].title]


def test_claimed_dates_can_run_on_a_given_start_and_step(clock: FakeClock) -> None:
    start = datetime(2026, 11, 23, 19, 0, 5, tzinfo=UTC)
    with DemoNetwork(clock=clock, claimed_start=start.replace(tzinfo=None), claimed_step=timedelta(seconds=8)) as net:
        clock.at_step(net.steps - 1)
        khaama = {e.title: parsedate_to_datetime(e.published) for e in read(net, KHAAMA).entries}
        copies = {e.title: parsedate_to_datetime(e.published) for e in read(net, RU24).entries}
        assert khaama[ARTICLES[1].title] == start + timedelta(seconds=16)
        assert copies[ARTICLES[1].title] == start + timedelta(seconds=24)
        assert copies[ARTICLES[BACKDATED_ARTICLE].title] < khaama[ARTICLES[BACKDATED_ARTICLE].title]
        assert read(net, KHAAMA).entries[0].link.startswith(f"{net.base_url}/khaama/2026/11/23/")
        assert paragraphs(body_of(read(net, RU24).entries[0]))[2:4] == ["Ноябрь", "2026"]
        last = get(feed_url(net, MIRRORS))[1]["Last-Modified"]
        assert parsedate_to_datetime(last) == start + timedelta(seconds=8 * (net.steps - 1))
    with pytest.raises(ValueError):
        DemoNetwork(claimed_step=timedelta(0))


# --------------------------------------------------------------------------- publishers


def test_feeds_are_the_seven_publishers_on_one_local_server(network: DemoNetwork) -> None:
    base = network.base_url
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", base)
    assert network.feeds == [
        DemoFeed(f"{base}/khaama/feed/", KHAAMA),
        DemoFeed(f"{base}/ru24/rss", RU24),
        DemoFeed(f"{base}/digest/atom.xml", DIGEST),
        DemoFeed(f"{base}/mirrors/rss", MIRRORS),
        DemoFeed(f"{base}/market/rss", MARKET),
        DemoFeed(f"{base}/herald/rss", HERALD),
        DemoFeed(f"{base}/newshub/feed", NEWSHUB),
    ]


def test_khaama_items_are_wordpress_with_the_yoast_footer(network: DemoNetwork) -> None:
    status, headers, body = get(feed_url(network, KHAAMA))
    assert b'<guid isPermaLink="false">' in body
    assert b"<description><![CDATA[" in body and b"<content:encoded><![CDATA[" in body
    entry = feedparser.parse(body).entries[0]
    article, site = ARTICLES[0], f"{network.base_url}/khaama/"
    assert entry.link == f"{site}2025/01/07/{article.slug}/"
    assert re.fullmatch(re.escape(site) + r"\?p=\d+", entry.id)
    assert entry.published == "Tue, 07 Jan 2025 08:00:00 +0000"
    assert paragraphs(entry.content[0].value) == list(article.paragraphs)
    summary = entry.summary
    assert paragraphs(summary)[0].startswith(article.summary)
    assert (f'<p>The post <a href="{entry.link}">{article.title}</a> appeared first on '
            f'<a href="{site}">Khaama Press</a>.</p>') in summary


def test_ru24_copies_each_article_a_step_later_with_chrome_and_footer(network: DemoNetwork, clock: FakeClock) -> None:
    clock.at_step(1)
    [entry] = read(network, RU24).entries
    article = ARTICLES[0]
    assert entry.title == article.title
    assert paragraphs(body_of(entry)) == [
        *RU24_CHROME, article.title, "0", *article.paragraphs,
        f"The post {article.title} appeared first on Khaama Press.",
    ]


def test_digest_excerpts_the_first_paragraph_two_steps_later(network: DemoNetwork, clock: FakeClock) -> None:
    clock.at_step(1)
    assert read(network, DIGEST).entries == []
    clock.at_step(2)
    digest = read(network, DIGEST)
    assert digest.version == "atom10"
    [entry] = digest.entries
    original = next(e for e in read(network, KHAAMA).entries if e.title == ARTICLES[0].title)
    assert paragraphs(body_of(entry)) == [ARTICLES[0].paragraphs[0], f"Read the full story at Khaama Press: {original.link}"]
    assert entry.link != original.link


def test_mirror_of_mirrors_copies_ru24_copies_two_steps_later(network: DemoNetwork, clock: FakeClock) -> None:
    clock.at_step(2)
    assert read(network, MIRRORS).entries == []
    clock.at_step(3)
    [entry] = read(network, MIRRORS).entries
    [ru24] = [e for e in read(network, RU24).entries if e.title == ARTICLES[0].title]
    copied = paragraphs(body_of(entry))
    assert copied == ["Reposted from around the web", *paragraphs(body_of(ru24))]
    assert copied[1:5] == RU24_CHROME


def test_market_watch_publishes_the_same_title_as_khaama_with_other_text(network: DemoNetwork, clock: FakeClock) -> None:
    clock.at_step(network.steps - 1)
    ours, theirs = MARKET_WRAPS
    [market] = read(network, MARKET).entries
    [khaama] = [e for e in read(network, KHAAMA).entries if e.title == ours.title]
    assert market.title == khaama.title
    assert paragraphs(body_of(market)) == list(theirs.paragraphs)
    assert paragraphs(body_of(khaama)) == list(ours.paragraphs)
    for publisher in (RU24, DIGEST, MIRRORS):
        assert ours.title not in {e.title for e in read(network, publisher).entries}


def test_expected_chains_name_each_articles_three_republications(network: DemoNetwork) -> None:
    chains = network.expected_chains()
    assert len(chains) == 19
    assert (NEWSHUB, HERALD, HERALD_ARTICLE.title) in chains
    for article in ARTICLES:
        mine = {c for c in chains if c[2] == article.title}
        assert mine == {(RU24, KHAAMA, article.title), (DIGEST, KHAAMA, article.title), (MIRRORS, RU24, article.title)}
    assert not {c for c in chains if MARKET in c[:2]}


def test_herald_feed_gives_one_sentence_and_its_page_the_article(network: DemoNetwork, clock: FakeClock) -> None:
    clock.at_step(1)
    status, headers, body = get(feed_url(network, HERALD))
    entry = parse_feed(body, headers["Content-Type"]).entries[0]
    teaser = to_document(entry).text
    assert teaser == HERALD_ARTICLE.standfirst and b"<content:encoded>" not in body
    assert not shingles(teaser) & shingles(" ".join(HERALD_ARTICLE.paragraphs))  # the feed alone links nothing
    assert needs_page(teaser, "auto")  # the daemon will want its page

    status, headers, page = get(entry.link)
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    markup = html.unescape(page.decode())
    for chrome in (*MOST_READ, "Privacy policy", "Share:", "All rights reserved"):
        assert chrome in markup  # the page is a news site's, chrome and all
    article = extract_article(page, entry.link, headers["Content-Type"])
    assert article is not None and article.site_name == HERALD
    assert [p for p in article.text.split("\n") if p != HERALD_ARTICLE.title] == list(HERALD_ARTICLE.paragraphs)
    assert use_page(len(teaser.split()), article.words, "auto")


def test_herald_pages_exist_once_published_and_robots_allows_them(network: DemoNetwork, clock: FakeClock) -> None:
    path = f"/herald/2025/01/{HERALD_ARTICLE.slug}.html"
    assert get(network.base_url + path)[0] == 404
    status, headers, body = get(network.base_url + "/robots.txt")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    assert Protego.parse(body.decode()).can_fetch(network.base_url + path, "tracker")
    clock.at_step(1)
    assert get(network.base_url + path)[0] == 200


def test_newshub_republishes_the_page_in_full_without_credit_two_steps_later(network: DemoNetwork, clock: FakeClock) -> None:
    clock.at_step(2)
    assert read(network, NEWSHUB).entries == []
    clock.at_step(3)
    status, headers, body = get(feed_url(network, NEWSHUB))
    entry = parse_feed(body, headers["Content-Type"]).entries[0]
    copy = to_document(entry)
    assert copy.paragraphs[: len(HERALD_ARTICLE.paragraphs)] == HERALD_ARTICLE.paragraphs
    assert copy.attributions == ()  # a scraper: nothing names the Herald
    herald = read(network, HERALD).entries[0]
    assert parsedate_to_datetime(read(network, NEWSHUB).entries[0].published) - parsedate_to_datetime(herald.published) == timedelta(minutes=20)


def test_tracker_reads_the_credits_and_strips_the_mirror_chrome(network: DemoNetwork, clock: FakeClock) -> None:
    clock.at_step(2)

    def first_entry(publisher: str) -> Any:
        status, headers, body = get(feed_url(network, publisher))
        parsed = parse_feed(body, headers["Content-Type"])
        assert parsed.warning is None
        return next(e for e in parsed.entries if e.title == ARTICLES[0].title)

    khaama, ru24, digest = first_entry(KHAAMA), first_entry(RU24), first_entry(DIGEST)
    copy = to_document(ru24)
    assert [(a.kind, a.name) for a in copy.attributions] == [("footer", "Khaama Press")]
    assert [copy.paragraphs[i] for i in story_paragraphs(copy, ru24.title, names=[RU24])] == list(ARTICLES[0].paragraphs)
    excerpt = to_document(digest)
    assert [(a.kind, a.name, a.url) for a in excerpt.attributions] == [("read_full", "Khaama Press", khaama.link)]
    assert any(a.kind == "footer" and a.url == khaama.link for a in to_document(khaama).attributions)


# --------------------------------------------------------------------------- HTTP


def test_conditional_get_answers_304_until_the_feed_changes(network: DemoNetwork, clock: FakeClock) -> None:
    url = feed_url(network, KHAAMA)
    status, headers, body = get(url)
    etag, modified = headers["ETag"], headers["Last-Modified"]
    assert status == 200 and re.fullmatch(r'"[0-9a-f]{16,}"', etag)  # strong: no W/
    assert headers["Content-Type"] == "application/rss+xml; charset=utf-8"
    assert parsedate_to_datetime(modified) == BASE_TIME

    status, headers, body = get(url, {"If-None-Match": etag})
    assert (status, body, headers["ETag"]) == (304, b"", etag)
    assert get(url, {"If-None-Match": '"other", ' + etag})[0] == 304
    assert get(url, {"If-None-Match": '"other"'})[0] == 200
    assert get(url, {"If-Modified-Since": modified})[0] == 304
    assert get(url, {"If-Modified-Since": format_datetime(BASE_TIME - timedelta(seconds=1), usegmt=True)})[0] == 200

    clock.at_step(1)  # only ru24.pro changes at step 1
    assert get(url, {"If-None-Match": etag})[0] == 304
    clock.at_step(2)
    status, headers, body = get(url, {"If-None-Match": etag})
    assert status == 200 and headers["ETag"] != etag and len(feedparser.parse(body).entries) == 2
    assert parsedate_to_datetime(headers["Last-Modified"]) == BASE_TIME + timedelta(minutes=20)


def test_atom_content_type_and_unknown_paths(network: DemoNetwork) -> None:
    assert get(feed_url(network, DIGEST))[1]["Content-Type"] == "application/atom+xml; charset=utf-8"
    for path in ("/", "/khaama/feed", "/ru24/rss/extra", "/nope.xml"):
        assert get(network.base_url + path)[0] == 404, path


def test_article_pages_exist_once_published(network: DemoNetwork, clock: FakeClock) -> None:
    link = read(network, KHAAMA).entries[0].link
    status, headers, body = get(link)
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert ARTICLES[0].paragraphs[-1] in html.unescape(body.decode())
    future = f"{network.base_url}/ru24/39291-{ARTICLES[0].slug}.html"
    assert get(future)[0] == 404
    clock.at_step(1)
    assert read(network, RU24).entries[0].link == future
    assert get(future)[0] == 200


def test_every_feed_parses_without_bozo(network: DemoNetwork, clock: FakeClock) -> None:
    # Any step serves a subset of the last step's items, so the empty feeds of step 0 and
    # the full ones of the last step cover every piece of markup the network produces.
    for step in (0, network.steps - 1):
        clock.at_step(step)
        for feed in network.feeds:
            status, headers, body = get(feed.url)
            parsed = feedparser.parse(body, response_headers={"content-type": headers["Content-Type"]})
            assert not parsed.bozo, (step, feed.publisher, parsed.get("bozo_exception"))
            assert parsed.feed.title == feed.publisher


def test_serves_without_writing_to_stderr(network: DemoNetwork, capfd: pytest.CaptureFixture[str]) -> None:
    get(feed_url(network, KHAAMA))
    get(network.base_url + "/missing")
    _, err = capfd.readouterr()
    assert err == ""


def test_stop_releases_the_port(clock: FakeClock) -> None:
    net = DemoNetwork(clock=clock)
    base = net.start()
    assert net.start() == base  # idempotent
    assert get(base + "/khaama/feed/")[0] == 200
    net.stop()
    net.stop()
    port = int(base.rsplit(":", 1)[1])
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    assert f"demo-network-{port}" not in {thread.name for thread in threading.enumerate()}
    with pytest.raises(RuntimeError):
        DemoNetwork(clock=clock).feeds


def test_articles_are_data_only() -> None:
    assert DemoArticle.__dataclass_params__.frozen  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        ARTICLES[0].title = "x"  # type: ignore[misc]
