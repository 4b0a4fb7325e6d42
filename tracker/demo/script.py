"""What the demo network publishes and when: its seven publishers, their delays, and every entry.

Time is counted in steps. Khaama Press publishes article i at step 2*i; ru24.pro copies it a
step later (one copy claiming a date before the original's), Headline Digest excerpts it two
steps later, Mirror of Mirrors copies ru24.pro two steps after that; Kabul Market Watch runs a
story whose title equals one of Khaama's; the Hindu Kush Herald's summary-only original is
scraped in full by NewsHub24.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from html import escape

from tracker.demo.articles import ARTICLES, HERALD_ARTICLE, MARKET_WRAPS, DemoArticle
from tracker.demo.documents import Entry, Place, paragraphs_html
from tracker.demo.pages import article_page

KHAAMA = "Khaama Press"
RU24 = "ru24.pro"
DIGEST = "Headline Digest"
MIRRORS = "Mirror of Mirrors"
MARKET = "Kabul Market Watch"
HERALD = "Hindu Kush Herald"
NEWSHUB = "NewsHub24"

BASE_TIME = datetime(2025, 1, 7, 8, 0, tzinfo=UTC)
SIMULATED_STEP = timedelta(minutes=10)
MAX_ITEMS = 20

ARTICLE_EVERY = 2     # Khaama publishes article i at step ARTICLE_EVERY * i
RU24_DELAY = 1        # steps after the original
DIGEST_DELAY = 2      # steps after the original
MIRROR_DELAY = 2      # steps after ru24.pro's copy
KHAAMA_WRAP_STEP = 3
MARKET_WRAP_STEP = 5
HERALD_STEP = 1
NEWSHUB_DELAY = 2     # steps after the Herald's original
NEWSHUB_TAGS = "Tags: Afghanistan, Kandahar, agriculture"
# ru24.pro labels this copy's UTC time as Moscow time (+0300): the date it claims lies
# three hours before Khaama's original, which the tracker should not believe.
BACKDATED_ARTICLE = 2
_MOSCOW = timezone(timedelta(hours=3))

RU24_CHROME_TOP = ("ru24.pro", "News in English")
RU24_COUNTER = "0"   # the view counter a scraper leaves under the headline
MIRROR_BANNER = "Reposted from around the web"
_RU_MONTHS = ("Январь", "Февраль", "Март", "Апрель", "Май", "Июнь",
              "Июль", "Август", "Сентябрь", "Октябрь", "Ноябрь", "Декабрь")


@dataclass(frozen=True)
class Calendar:
    """The date every item claims: the start plus a fixed length per step."""

    start: datetime
    step: timedelta

    def at(self, step: int) -> datetime:
        return self.start + step * self.step


def _wordpress_entry(when: Calendar, feed_path: str, site: str, article: DemoArticle, step: int, post_id: int) -> Entry:
    """An item as WordPress + Yoast put it in a feed: full content, excerpt + footer as description."""
    published = when.at(step)
    link = f"{site}{published:%Y/%m/%d}/{article.slug}/"
    publisher = KHAAMA if feed_path.startswith("/khaama/") else MARKET
    footer = (f'<p>The post <a href="{escape(link)}">{escape(article.title)}</a> appeared first on '
              f'<a href="{escape(site)}">{escape(publisher)}</a>.</p>')
    return Entry(feed_path, step, article.title, link, f"{site}?p={post_id}", False, published,
                  summary_html=f"<p>{escape(article.summary)} [&#8230;]</p>\n{footer}",
                  content_html=paragraphs_html(article.paragraphs))


def _copies(when: Calendar, place: Place, index: int, article: DemoArticle, original: Entry) -> tuple[Entry, ...]:
    """ru24.pro's, Headline Digest's and Mirror of Mirrors' copies of one original."""
    ru24_step = original.step + RU24_DELAY
    ru24_link = place(f"/ru24/{39291 + index}-{article.slug}.html")
    claimed = when.at(ru24_step)
    if index == BACKDATED_ARTICLE:
        claimed = claimed.replace(tzinfo=_MOSCOW)
    chrome = (*RU24_CHROME_TOP, _RU_MONTHS[original.published.month - 1], str(original.published.year),
              article.title, RU24_COUNTER)
    ru24_html = (paragraphs_html([*chrome, *article.paragraphs])
                 + f"<p>The post {escape(article.title)} appeared first on {KHAAMA}.</p>\n")
    ru24 = Entry("/ru24/rss", ru24_step, article.title, ru24_link, ru24_link, True, claimed, ru24_html)

    digest_step = original.step + DIGEST_DELAY
    digest_link = place(f"/digest/story/{article.slug}")
    digest_html = (paragraphs_html(article.paragraphs[:1])
                   + f"<p>Read the full story at {KHAAMA}: {escape(original.link)}</p>\n")
    digest = Entry("/digest/atom.xml", digest_step, article.title, digest_link, digest_link, True,
                    when.at(digest_step), digest_html)

    mirror_step = ru24_step + MIRROR_DELAY
    mirror_id = 7100 + index
    mirror = Entry("/mirrors/rss", mirror_step, article.title, place(f"/mirrors/p/{mirror_id}/"),
                    place(f"/mirrors/?p={mirror_id}"), False, when.at(mirror_step),
                    paragraphs_html([MIRROR_BANNER]) + ru24_html)
    return ru24, digest, mirror


def _herald(when: Calendar, place: Place) -> tuple[Entry, Entry]:
    """The Hindu Kush Herald's summary-only original (its page has the article) and NewsHub24's scrape of it."""
    article, published = HERALD_ARTICLE, when.at(HERALD_STEP)
    link = place(f"/herald/{published:%Y/%m}/{article.slug}.html")
    markup = article_page(site=place("/herald/"), site_name=HERALD, url=link, title=article.title, standfirst=article.standfirst,
                        paragraphs=article.paragraphs, published=published, author="Staff reporter")
    original = Entry("/herald/rss", HERALD_STEP, article.title, link, link, True, published,
                      summary_html=escape(article.standfirst), page_html=markup)
    step = HERALD_STEP + NEWSHUB_DELAY
    copy_link = place(f"/newshub/news/{article.slug}/")
    copy = Entry("/newshub/feed", step, article.title, copy_link, copy_link, True, when.at(step),
                  summary_html=f"<p>{escape(article.summary)}</p>",
                  content_html=paragraphs_html([*article.paragraphs, NEWSHUB_TAGS]))
    return original, copy


def script(place: Place, when: Calendar) -> tuple[Entry, ...]:
    """Every item the network will ever publish, in publication order within a step."""
    khaama_site, market_site = place("/khaama/"), place("/market/")
    entries: list[Entry] = []
    for index, article in enumerate(ARTICLES):
        original = _wordpress_entry(when, "/khaama/feed/", khaama_site, article, ARTICLE_EVERY * index, 183400 + 7 * index)
        entries += [original, *_copies(when, place, index, article, original)]
    khaama_wrap, market_wrap = MARKET_WRAPS
    entries.append(_wordpress_entry(when, "/khaama/feed/", khaama_site, khaama_wrap, KHAAMA_WRAP_STEP, 183410))
    entries.append(_wordpress_entry(when, "/market/rss", market_site, market_wrap, MARKET_WRAP_STEP, 5120))
    entries += _herald(when, place)
    return tuple(sorted(entries, key=lambda e: e.step))
