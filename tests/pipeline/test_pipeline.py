"""End-to-end behaviour of the pipeline: captures in, stories, originals and parents out."""

from __future__ import annotations

import itertools
import json

import pytest
import sqlalchemy as sa

from tests.builders import (
    T0,
    Item,
    article,
    capture,
    hours,
    html,
    rss,
    wordpress_footer,
)
from tests.conftest import make_pipeline
from tracker.model import Capture

KHAAMA = "https://www.khaama.com/feed/"
RU24 = "https://ru24.pro/rss"
DIGEST = "https://headlinedigest.example/rss"
MIRRORS = "https://mirrorofmirrors.example/rss"
FEEDS = [
    {"url": KHAAMA, "publisher": "Khaama Press"},
    {"url": RU24, "publisher": "ru24.pro"},
    {"url": DIGEST, "publisher": "Headline Digest"},
    {"url": MIRRORS, "publisher": "Mirror of Mirrors"},
]
TITLE = "Pakistani airstrikes kill civilians in eastern Afghanistan"
ORIGINAL_URL = "https://www.khaama.com/pakistani-airstrikes-kill-civilians/"
MIRROR_URL = "https://ru24.pro/70678-pakistani-airstrikes.html"
DISCLAIMER = (
    "The opinions expressed in this publication are those of the authors. They do not purport to "
    "reflect the opinions or views of The Khaama Press News Agency."
)
CHROME = ["ru24.pro", "News in English", "Январь", "2025", TITLE, "0"]


def khaama_item(paragraphs: list[str], title: str = TITLE, link: str = ORIGINAL_URL, published=T0) -> Item:  # type: ignore[no-untyped-def]
    footer = wordpress_footer(title, link, "https://www.khaama.com", "Khaama Press")
    return Item(title, link, paragraphs, published, guid=f"{link}?p=1", summary=html(paragraphs[:1]) + footer)


def mirror_item(paragraphs: list[str], *, title: str = TITLE, link: str = MIRROR_URL, published=T0 + hours(2), chrome=CHROME, origin="Khaama Press") -> Item:  # type: ignore[no-untyped-def]
    body = list(chrome) + paragraphs + ["DISCLAIMER –", DISCLAIMER, f"The post {title} appeared first on {origin}."]
    return Item(title, link, body, published)


def provenance(url: str) -> dict[str, tuple[str | None, str | None, str]]:
    """url → (original url, parent url, relation) for every item."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT item_id, url, original_item_id, parent_item_id, relation FROM item_provenance")).all()
    engine.dispose()
    urls = {r.item_id: r.url for r in rows}
    return {r.url: (urls.get(r.original_item_id), urls.get(r.parent_item_id), r.relation) for r in rows}


def seed_captures(paragraphs: list[str]) -> list[Capture]:
    return [
        capture(KHAAMA, T0 + hours(0.5), rss("Khaama Press", "https://www.khaama.com/", [khaama_item(paragraphs)])),
        capture(RU24, T0 + hours(2.5), rss("ru24.pro", "https://ru24.pro/", [mirror_item(paragraphs)], full_content=False)),
    ]


def test_seed_case_mirror_of_khaama_press(sqlite_url: str) -> None:
    paragraphs = article(1)
    pipeline = make_pipeline(sqlite_url, FEEDS)
    report = pipeline.ingest(seed_captures(paragraphs))
    assert (report.new_items, report.republications, report.errors) == (2, 1, 0)
    result = provenance(sqlite_url)
    assert result[ORIGINAL_URL] == (ORIGINAL_URL, None, "original")
    assert result[MIRROR_URL] == (ORIGINAL_URL, ORIGINAL_URL, "copy")


def test_seed_case_original_found_when_mirror_is_ingested_first_and_seen_first(sqlite_url: str) -> None:
    """The mirror's feed was captured before Khaama's and claims an earlier date; the footer settles it."""
    paragraphs = article(2)
    mirror = capture(RU24, T0 - hours(1), rss("ru24.pro", "https://ru24.pro/", [mirror_item(paragraphs, published=T0 - hours(1.5))], full_content=False))
    original = capture(KHAAMA, T0 + hours(3), rss("Khaama Press", "https://www.khaama.com/", [khaama_item(paragraphs, published=T0)]))
    pipeline = make_pipeline(sqlite_url, FEEDS)
    pipeline.ingest([mirror])
    assert provenance(sqlite_url)[MIRROR_URL] == (MIRROR_URL, None, "original")
    pipeline.ingest([original])
    result = provenance(sqlite_url)
    assert result[MIRROR_URL] == (ORIGINAL_URL, ORIGINAL_URL, "copy")
    assert result[ORIGINAL_URL][1] is None


def test_mirror_chrome_and_footer_are_not_story_text(sqlite_url: str) -> None:
    paragraphs = article(3)
    make_pipeline(sqlite_url, FEEDS).ingest(seed_captures(paragraphs))
    engine = sa.create_engine(sqlite_url)
    with engine.connect() as conn:
        story = conn.execute(sa.text("SELECT v.story_text FROM item_versions v JOIN items i ON i.id = v.item_id WHERE i.url = :u"), {"u": MIRROR_URL}).scalar_one()
        similarity = conn.execute(sa.text("SELECT similarity FROM republications")).scalar_one()
    assert story.split("\n")[0] == paragraphs[0]
    assert "appeared first on" not in story and "News in English" not in story
    assert similarity > 0.9


def network(paragraphs: list[str]) -> list[Capture]:
    """Khaama publishes; ru24 mirrors it; the digest excerpts it; a mirror copies ru24's copy."""
    excerpt = Item(TITLE, "https://headlinedigest.example/1.html", paragraphs[:1] + [f"Read the full story at Khaama Press: {ORIGINAL_URL}"], T0 + hours(3))
    mirror_of_mirror = Item(TITLE, "https://mirrorofmirrors.example/9.html", ["Reposted from around the web"] + mirror_item(paragraphs).paragraphs, T0 + hours(4))
    return [
        capture(KHAAMA, T0 + hours(0.5), rss("Khaama Press", "https://www.khaama.com/", [khaama_item(paragraphs)])),
        capture(RU24, T0 + hours(2.5), rss("ru24.pro", "https://ru24.pro/", [mirror_item(paragraphs)], full_content=False)),
        capture(DIGEST, T0 + hours(3.5), rss("Headline Digest", "https://headlinedigest.example/", [excerpt], full_content=False)),
        capture(MIRRORS, T0 + hours(4.5), rss("Mirror of Mirrors", "https://mirrorofmirrors.example/", [mirror_of_mirror], full_content=False)),
    ]


def test_excerpt_and_copy_of_copy(sqlite_url: str) -> None:
    make_pipeline(sqlite_url, FEEDS).ingest(network(article(4, paragraphs=8)))
    result = provenance(sqlite_url)
    assert result["https://headlinedigest.example/1.html"] == (ORIGINAL_URL, ORIGINAL_URL, "excerpt")
    # The mirror of mirrors carries ru24's chrome lines: its parent is ru24, not Khaama.
    assert result["https://mirrorofmirrors.example/9.html"] == (ORIGINAL_URL, MIRROR_URL, "copy")


@pytest.mark.parametrize("permutation", list(itertools.permutations(range(4))))
def test_every_ingest_order_gives_the_same_provenance(tmp_path, permutation: tuple[int, ...]) -> None:  # type: ignore[no-untyped-def]
    captures = network(article(5, paragraphs=8))
    reference_url = f"sqlite:///{tmp_path / 'reference.sqlite3'}"
    make_pipeline(reference_url, FEEDS).ingest(captures)
    shuffled_url = f"sqlite:///{tmp_path / 'shuffled.sqlite3'}"
    make_pipeline(shuffled_url, FEEDS).ingest([captures[i] for i in permutation])
    assert provenance(shuffled_url) == provenance(reference_url)


def test_edited_article_is_a_new_version_not_a_copy(sqlite_url: str) -> None:
    paragraphs = article(6)
    edited = paragraphs[:-1] + ["Correction: an earlier version of this story misstated the number of districts affected."]
    pipeline = make_pipeline(sqlite_url, FEEDS)
    report = pipeline.ingest([
        capture(KHAAMA, T0 + hours(1), rss("Khaama Press", "https://www.khaama.com/", [khaama_item(paragraphs)])),
        capture(KHAAMA, T0 + hours(2), rss("Khaama Press", "https://www.khaama.com/", [khaama_item(edited)])),
    ])
    assert (report.new_items, report.updates, report.republications) == (1, 1, 0)
    engine = sa.create_engine(sqlite_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM item_versions")).scalar_one() == 2
        assert conn.execute(sa.text("SELECT COUNT(*) FROM republications")).scalar_one() == 0


def test_one_article_in_two_feeds_of_one_publisher_is_one_item(sqlite_url: str) -> None:
    category = "https://www.khaama.com/category/opinion/feed/"
    feeds = FEEDS + [{"url": category, "publisher": "Khaama Press"}]
    item = khaama_item(article(7))
    pipeline = make_pipeline(sqlite_url, feeds)
    report = pipeline.ingest([
        capture(KHAAMA, T0 + hours(1), rss("Khaama Press", "https://www.khaama.com/", [item])),
        capture(category, T0 + hours(1.2), rss("Khaama Press » Opinion", "https://www.khaama.com/", [item])),
    ])
    assert report.new_items == 1
    engine = sa.create_engine(sqlite_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM items")).scalar_one() == 1
        assert conn.execute(sa.text("SELECT COUNT(*) FROM item_feeds")).scalar_one() == 2
        assert conn.execute(sa.text("SELECT COUNT(*) FROM republications")).scalar_one() == 0


def test_backdated_copy_does_not_become_the_original(sqlite_url: str) -> None:
    """The copy claims a date before the original, but its feed was captured after that date without it."""
    paragraphs = article(8)
    copy = Item("Airstrikes in Paktika", "https://ru24.pro/1.html", paragraphs, T0 - hours(5))
    pipeline = make_pipeline(sqlite_url, FEEDS)
    pipeline.ingest([
        capture(RU24, T0 - hours(2), rss("ru24.pro", "https://ru24.pro/", [], full_content=False)),
        capture(KHAAMA, T0 + hours(0.2), rss("Khaama Press", "https://www.khaama.com/", [khaama_item(paragraphs)])),
        capture(RU24, T0 + hours(1), rss("ru24.pro", "https://ru24.pro/", [copy], full_content=False)),
    ])
    result = provenance(sqlite_url)
    assert result["https://ru24.pro/1.html"][:2] == (ORIGINAL_URL, ORIGINAL_URL)
    engine = sa.create_engine(sqlite_url)
    with engine.connect() as conn:
        evidence = json.loads(conn.execute(sa.text("SELECT evidence FROM republications")).scalar_one())
    assert "disproved" in evidence["time_evidence"]


def test_a_scraper_copying_the_original_date_and_seen_first_is_not_the_original(sqlite_url: str) -> None:
    """Same claimed time, no credit, the copy's feed polled first: its header gives it away."""
    paragraphs = article(15)
    copy = Item(TITLE, MIRROR_URL, list(CHROME) + paragraphs, T0)
    make_pipeline(sqlite_url, FEEDS).ingest([
        capture(RU24, T0 + hours(0.1), rss("ru24.pro", "https://ru24.pro/", [copy], full_content=False)),
        capture(KHAAMA, T0 + hours(0.3), rss("Khaama Press", "https://www.khaama.com/", [khaama_item(paragraphs, published=T0)])),
    ])
    assert provenance(sqlite_url)[MIRROR_URL] == (ORIGINAL_URL, ORIGINAL_URL, "copy")


def test_unknown_source_named_in_the_footer_is_the_attributed_origin(sqlite_url: str) -> None:
    paragraphs = article(9)
    copy = mirror_item(paragraphs, origin="Kabul Evening Star")
    make_pipeline(sqlite_url, FEEDS).ingest([capture(RU24, T0, rss("ru24.pro", "https://ru24.pro/", [copy], full_content=False))])
    engine = sa.create_engine(sqlite_url)
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT attributed_origin, relation FROM item_provenance")).one()
    assert row.attributed_origin == "Kabul Evening Star"
    assert row.relation == "original"


def test_a_republisher_copying_one_story_twice_has_both_copies_linked(sqlite_url: str) -> None:
    """A mirror reposts a story from ru24.pro and again from another syndicator."""
    paragraphs = article(13, paragraphs=6)
    syndicated = Item(TITLE, "https://syndicate.example/5.html", ["This article was originally published by Khaama Press."] + paragraphs, T0 + hours(3))
    from_ru24 = Item(TITLE, "https://mirrorofmirrors.example/1.html", ["Reposted from around the web"] + mirror_item(paragraphs).paragraphs, T0 + hours(4))
    from_syndicate = Item(TITLE, "https://mirrorofmirrors.example/2.html", ["Reposted from around the web"] + syndicated.paragraphs, T0 + hours(5))
    feeds = FEEDS + [{"url": "https://syndicate.example/rss", "publisher": "Syndicate"}]
    make_pipeline(sqlite_url, feeds).ingest(seed_captures(paragraphs) + [
        capture("https://syndicate.example/rss", T0 + hours(3.2), rss("Syndicate", "https://syndicate.example/", [syndicated], full_content=False)),
        capture(MIRRORS, T0 + hours(5.5), rss("Mirror of Mirrors", "https://mirrorofmirrors.example/", [from_ru24, from_syndicate], full_content=False)),
    ])
    result = provenance(sqlite_url)
    assert result["https://mirrorofmirrors.example/1.html"][:2] == (ORIGINAL_URL, MIRROR_URL)
    assert result["https://mirrorofmirrors.example/2.html"][:2] == (ORIGINAL_URL, "https://syndicate.example/5.html")


def test_an_excerpt_naming_its_source_url_is_linked_even_with_little_text(sqlite_url: str) -> None:
    """A digest keeps only a dateline of the original, but says where the full story is."""
    paragraphs = ["Headingley", "Friday, 25 February", *article(14, paragraphs=4)]
    digest = Item("Leeds v Saracens", "https://headlinedigest.example/7.html", ["Headingley | Friday, 25 February", f"Read the full story at Khaama Press: {ORIGINAL_URL}"], T0 + hours(2))
    make_pipeline(sqlite_url, FEEDS).ingest([
        capture(DIGEST, T0 + hours(2.5), rss("Headline Digest", "https://headlinedigest.example/", [digest], full_content=False)),
        capture(KHAAMA, T0 + hours(3), rss("Khaama Press", "https://www.khaama.com/", [khaama_item(paragraphs)])),
    ])
    assert provenance(sqlite_url)["https://headlinedigest.example/7.html"] == (ORIGINAL_URL, ORIGINAL_URL, "excerpt")


def test_a_followed_source_whose_item_was_never_seen_is_the_attributed_origin(sqlite_url: str) -> None:
    """Khaama Press is followed, but its item left the feed before the first capture."""
    copy = mirror_item(article(12))
    make_pipeline(sqlite_url, FEEDS).ingest([
        capture(KHAAMA, T0, rss("Khaama Press", "https://www.khaama.com/", [])),
        capture(RU24, T0 + hours(1), rss("ru24.pro", "https://ru24.pro/", [copy], full_content=False)),
    ])
    engine = sa.create_engine(sqlite_url)
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT attributed_origin, relation FROM item_provenance")).one()
        story = conn.execute(sa.text("SELECT attributed_origin FROM stories")).scalar_one()
    assert (row.attributed_origin, row.relation, story) == ("Khaama Press", "original", "Khaama Press")


def test_stories_sharing_a_template_and_a_disclaimer_are_not_merged(sqlite_url: str) -> None:
    """A column title and a disclaimer on every post do not make different stories one."""
    template = "Market Wrap: shares traded in Kabul today as brokers watched currency and fuel prices closely."
    stories = [article(20 + i, paragraphs=3, words=25) for i in range(4)]
    posts = [
        khaama_item([template] + s, title="Market Wrap", link=f"https://www.khaama.com/market-wrap-{i}/", published=T0 + hours(i))
        for i, s in enumerate(stories)
    ]
    for post in posts:
        post.extra_after = [DISCLAIMER]
    copies = [
        mirror_item([template] + s, title="Market Wrap", link=f"https://ru24.pro/mw-{i}.html", published=T0 + hours(i + 0.5))
        for i, s in enumerate(stories)
    ]
    pipeline = make_pipeline(sqlite_url, FEEDS)
    pipeline.ingest([
        capture(KHAAMA, T0 + hours(4), rss("Khaama Press", "https://www.khaama.com/", posts)),
        capture(RU24, T0 + hours(5), rss("ru24.pro", "https://ru24.pro/", copies, full_content=False)),
    ])
    result = provenance(sqlite_url)
    for i in range(4):
        original = f"https://www.khaama.com/market-wrap-{i}/"
        assert result[original] == (original, None, "original")
        assert result[f"https://ru24.pro/mw-{i}.html"][:2] == (original, original)


def test_ingest_is_idempotent_and_resumable(tmp_path) -> None:  # type: ignore[no-untyped-def]
    captures = network(article(10, paragraphs=8))
    url = f"sqlite:///{tmp_path / 'a.sqlite3'}"
    first = make_pipeline(url, FEEDS).ingest(captures)
    again = make_pipeline(url, FEEDS).ingest(captures)
    assert first.captures == 4 and again.captures == 0 and again.skipped_known == 4
    assert again.new_items == 0 and again.republications == 0

    # An ingest interrupted after two captures, then run again from the start.
    resumed = f"sqlite:///{tmp_path / 'b.sqlite3'}"

    def interrupted():  # type: ignore[no-untyped-def]
        yield from captures[:2]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        make_pipeline(resumed, FEEDS).ingest(interrupted())
    make_pipeline(resumed, FEEDS).ingest(captures)
    assert provenance(resumed) == provenance(url)


def test_restart_rebuilds_the_index_from_sql(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A new process finds copies of items stored by an earlier one."""
    captures = seed_captures(article(11))
    url = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    make_pipeline(url, FEEDS).ingest(captures[:1])
    report = make_pipeline(url, FEEDS).ingest(captures[1:])
    assert report.republications == 1
    assert provenance(url)[MIRROR_URL][:2] == (ORIGINAL_URL, ORIGINAL_URL)


def in_lookalikes(paragraph: str) -> str:
    """A paragraph with the letters a, e, o, c and p of every other word swapped for their
    Cyrillic look-alikes, as a scraper does so that its copies are not found."""
    swap = str.maketrans("aeocp", "аеоср")
    return " ".join(word.translate(swap) if n % 2 else word for n, word in enumerate(paragraph.split(" ")))


def test_a_copy_spelt_with_look_alike_letters_is_a_copy(sqlite_url: str) -> None:
    paragraphs = article(7, paragraphs=6)
    disguised = [in_lookalikes(p) for p in paragraphs]
    assert all(d != p for d, p in zip(disguised, paragraphs, strict=True))
    scraper = Item(in_lookalikes(TITLE), "https://mirrorofmirrors.example/k.html", disguised, T0 + hours(2))
    make_pipeline(sqlite_url, FEEDS).ingest([
        capture(KHAAMA, T0 + hours(0.5), rss("Khaama Press", "https://www.khaama.com/", [khaama_item(paragraphs)])),
        capture(MIRRORS, T0 + hours(2.5), rss("Mirror of Mirrors", "https://mirrorofmirrors.example/", [scraper])),
    ])
    assert provenance(sqlite_url)["https://mirrorofmirrors.example/k.html"] == (ORIGINAL_URL, ORIGINAL_URL, "copy")


def test_a_copy_a_scraper_decoded_with_the_wrong_charset_is_a_copy(sqlite_url: str) -> None:
    """Every pound sign, curly quote and dash of the copy is two or three other characters
    ("Â£", "â€™"): read as it was, it is the article verbatim."""
    from tests.detection.test_mojibake import wrongly_decoded

    paragraphs = [f"{p[:-1]}, at £{n}.5bn, the minister’s “first” estimate – so far." for n, p in enumerate(article(17, paragraphs=6))]
    scraper = Item(TITLE, "https://mirrorofmirrors.example/m.html", [wrongly_decoded(p) for p in paragraphs], T0 + hours(2))
    make_pipeline(sqlite_url, FEEDS).ingest([
        capture(KHAAMA, T0 + hours(0.5), rss("Khaama Press", "https://www.khaama.com/", [khaama_item(paragraphs)])),
        capture(MIRRORS, T0 + hours(2.5), rss("Mirror of Mirrors", "https://mirrorofmirrors.example/", [scraper])),
    ])
    engine = sa.create_engine(sqlite_url)
    with engine.connect() as conn:
        similarity = conn.execute(sa.text("SELECT similarity FROM item_provenance WHERE url = :u"), {"u": scraper.link}).scalar_one()
    engine.dispose()
    assert provenance(sqlite_url)[scraper.link] == (ORIGINAL_URL, ORIGINAL_URL, "copy") and similarity == 1.0


def test_a_partners_follow_up_built_on_ones_own_story_is_a_copy_when_credited(sqlite_url: str) -> None:
    """Khaama's story is copied by ru24, whose next-day follow-up reuses four of its
    paragraphs; Khaama republishes the follow-up verbatim, naming it by its URL. (Crediting
    ru24 by name, for a quote, is not enough: see the next test.)"""
    story, new = article(15, paragraphs=6), article(16, paragraphs=2)
    follow_up = new + story[:4]
    ours = "https://www.khaama.com/follow-up/"
    theirs = "https://ru24.pro/follow-up.html"
    make_pipeline(sqlite_url, FEEDS).ingest([
        capture(KHAAMA, T0 + hours(0.5), rss("Khaama Press", "https://www.khaama.com/", [khaama_item(story)])),
        capture(RU24, T0 + hours(2.5), rss("ru24.pro", "https://ru24.pro/", [mirror_item(story)], full_content=False)),
        capture(RU24, T0 + hours(24.5), rss("ru24.pro", "https://ru24.pro/", [Item("Follow-up", theirs, follow_up, T0 + hours(24))])),
        capture(KHAAMA, T0 + hours(26.5), rss("Khaama Press", "https://www.khaama.com/", [
            Item("Follow-up", ours, [*follow_up, f"Read the full story at ru24.pro: {theirs}"], T0 + hours(26))])),
    ])
    assert provenance(sqlite_url)[ours][1:] == (theirs, "copy")


@pytest.mark.parametrize("credit", [
    "Источник: Khaama Press", "(Source: Khaama Press)", "Fuente – Khaama Press", "出典：Khaama Press",
])
def test_a_source_line_in_any_wording_names_the_original_the_mirror_predates(sqlite_url: str, credit: str) -> None:
    """ru24's copy claims a date before Khaama's and is captured first; its credit line, in
    another language or wording, still makes Khaama's item its original."""
    paragraphs = article(17, paragraphs=5)
    copy = Item(TITLE, MIRROR_URL, [*paragraphs, credit], T0 - hours(1.5))
    make_pipeline(sqlite_url, FEEDS).ingest([
        capture(RU24, T0 - hours(1), rss("ru24.pro", "https://ru24.pro/", [copy])),
        capture(KHAAMA, T0 + hours(0.5), rss("Khaama Press", "https://www.khaama.com/", [khaama_item(paragraphs)])),
    ])
    assert provenance(sqlite_url)[MIRROR_URL] == (ORIGINAL_URL, ORIGINAL_URL, "copy")


def test_a_copy_that_puts_its_own_name_in_the_dateline_is_a_copy(sqlite_url: str) -> None:
    """ru24 rebrands Khaama's dateline, "KABUL (Khaama Press) –" → "KABUL (ru24.pro) –": one
    name in the other's place is no template filled in for another subject."""
    brief = [
        ("KABUL (Khaama Press) – The Ministry of Public Health said on Tuesday that a new polio vaccination campaign "
         "would begin next week in twelve provinces, targeting children under the age of five."),
        ("Officials said that health workers would go from house to house in the campaign, which is expected to last "
         "four days, and asked parents to cooperate with the teams."),
    ]
    rebranded = [p.replace("(Khaama Press)", "(ru24.pro)") for p in brief]
    make_pipeline(sqlite_url, FEEDS).ingest([
        capture(KHAAMA, T0 + hours(0.5), rss("Khaama Press", "https://www.khaama.com/", [khaama_item(brief)])),
        capture(RU24, T0 + hours(2.5), rss("ru24.pro", "https://ru24.pro/", [Item(TITLE, MIRROR_URL, rebranded, T0 + hours(2))])),
    ])
    assert provenance(sqlite_url)[MIRROR_URL][:2] == (ORIGINAL_URL, ORIGINAL_URL)


@pytest.mark.parametrize("reposts", [3, 4])
def test_a_scraper_posting_one_copy_several_times_keeps_every_copy_linked(tmp_path, reposts: int) -> None:  # type: ignore[no-untyped-def]
    """ru24 posts its copy of Khaama's story three (four) times under new URLs: the story's
    paragraphs on three of its items are one story reposted, not ru24's boilerplate. Every
    repost stays a copy, and a rebuilt state holds the same."""
    paragraphs = article(18, paragraphs=5)
    posts = [Item(TITLE, f"https://ru24.pro/{n}.html", paragraphs, T0 + hours(1 + n)) for n in range(reposts)]
    url = f"sqlite:///{tmp_path / 'reposts.sqlite3'}"
    make_pipeline(url, FEEDS).ingest([
        capture(KHAAMA, T0 + hours(0.5), rss("Khaama Press", "https://www.khaama.com/", [khaama_item(paragraphs)])),
        *[capture(RU24, T0 + hours(1.5 + n), rss("ru24.pro", "https://ru24.pro/", posts[: n + 1])) for n in range(reposts)],
    ])
    assert {provenance(url)[p.link][:2] for p in posts} == {(ORIGINAL_URL, ORIGINAL_URL)}


def test_crediting_a_partner_for_a_quote_does_not_make_ones_update_its_copy(sqlite_url: str) -> None:
    story = article(19, paragraphs=6)
    theirs = Item("Road closed: more", "https://ru24.pro/road.html", [*story, *article(20, paragraphs=2)], T0 + hours(1.5))
    update = Item("Road closed (updated)", "https://www.khaama.com/road-update/",
                  [*story, "The governor told ru24.pro on Tuesday that the road would stay closed.", "Source: ru24.pro"], T0 + hours(3.5))
    make_pipeline(sqlite_url, FEEDS).ingest([
        capture(KHAAMA, T0, rss("Khaama Press", "https://www.khaama.com/", [khaama_item(story)])),
        capture(RU24, T0 + hours(2), rss("ru24.pro", "https://ru24.pro/", [theirs])),
        capture(KHAAMA, T0 + hours(4), rss("Khaama Press", "https://www.khaama.com/", [update])),
    ])
    assert provenance(sqlite_url)[update.link][1] is None


@pytest.mark.parametrize("pointer", [f"Read more: {ORIGINAL_URL}", f"Подробнее → {ORIGINAL_URL}"])
def test_an_aggregators_read_more_link_names_the_original_it_predates(sqlite_url: str, pointer: str) -> None:
    """A digest gives Khaama's first paragraph and a "Read more" pointer to it, dated before
    Khaama's item and captured first. (A link labelled "Read more": test_normalise.)"""
    paragraphs = article(21, paragraphs=5)
    digest = Item(TITLE, "https://headlinedigest.example/9.html", [paragraphs[0], pointer], T0 - hours(1))
    make_pipeline(sqlite_url, FEEDS).ingest([
        capture(DIGEST, T0 - hours(0.5), rss("Headline Digest", "https://headlinedigest.example/", [digest], full_content=False)),
        capture(KHAAMA, T0 + hours(0.5), rss("Khaama Press", "https://www.khaama.com/", [khaama_item(paragraphs)])),
    ])
    assert provenance(sqlite_url)["https://headlinedigest.example/9.html"] == (ORIGINAL_URL, ORIGINAL_URL, "excerpt")


def test_a_copy_of_an_articles_first_version_stays_a_copy_when_the_article_grows(sqlite_url: str) -> None:
    """A mirror copied a breaking story's first three paragraphs verbatim; the original then
    grew to nine. The mirror holds a whole version of it: a copy, not an excerpt."""
    first = article(31, paragraphs=3)
    grown = first + article(32, paragraphs=6)
    pipeline = make_pipeline(sqlite_url, FEEDS)
    pipeline.ingest([
        capture(KHAAMA, T0 + hours(0.5), rss("Khaama Press", "https://www.khaama.com/", [khaama_item(first)])),
        capture(RU24, T0 + hours(1.5), rss("ru24.pro", "https://ru24.pro/", [mirror_item(first)], full_content=False)),
        capture(KHAAMA, T0 + hours(3), rss("Khaama Press", "https://www.khaama.com/", [khaama_item(grown)])),
    ])
    assert provenance(sqlite_url)[MIRROR_URL] == (ORIGINAL_URL, ORIGINAL_URL, "copy")
    # An aggregator's excerpt of the grown article's lead is still an excerpt.
    excerpt = Item(TITLE, "https://headlinedigest.example/1", grown[:1], T0 + hours(4))
    pipeline.ingest([capture(DIGEST, T0 + hours(4.5), rss("Headline Digest", "https://headlinedigest.example/", [excerpt]))])
    assert provenance(sqlite_url)["https://headlinedigest.example/1"][2] == "excerpt"


@pytest.mark.parametrize("credited", ["https://m.khaama.com/story/", "https://www-khaama-com.cdn.ampproject.org/c/s/www.khaama.com/story/amp/"])
def test_an_excerpt_crediting_the_mobile_or_amp_page_follows_the_original(sqlite_url: str, credited: str) -> None:
    """Seen first and dated earlier, an excerpt whose "Read the full story" links the mobile
    (or AMP cache) form of Khaama's page is still Khaama's excerpt, not an original crediting
    a "Khaama" nobody follows."""
    paragraphs, link = article(41, paragraphs=6), "https://www.khaama.com/story/"
    excerpt = Item(TITLE, "https://headlinedigest.example/41.html", paragraphs[:1] + [f"Read the full story at Khaama: {credited}"], T0 - hours(1))
    make_pipeline(sqlite_url, FEEDS).ingest([
        capture(DIGEST, T0 - hours(0.5), rss("Headline Digest", "https://headlinedigest.example/", [excerpt], full_content=False)),
        capture(KHAAMA, T0 + hours(0.5), rss("Khaama Press", "https://www.khaama.com/", [khaama_item(paragraphs, link=link)])),
    ])
    assert provenance(sqlite_url)[excerpt.link] == (link, link, "excerpt")


def test_a_wire_story_whose_dateline_names_the_agency_is_the_agency_copy(sqlite_url: str) -> None:
    """A member paper runs the wire story before the agency's own site posts it; its
    dateline, "KABUL (Khaama Press) —", says whose story it is."""
    paragraphs = article(43, paragraphs=6)
    paragraphs[0] = "KABUL (Khaama Press) — " + paragraphs[0]
    member = Item(TITLE, "https://ru24.pro/43.html", paragraphs, T0 - hours(1))
    make_pipeline(sqlite_url, FEEDS).ingest([
        capture(RU24, T0 - hours(0.5), rss("ru24.pro", "https://ru24.pro/", [member], full_content=False)),
        capture(KHAAMA, T0 + hours(0.5), rss("Khaama Press", "https://www.khaama.com/", [Item(TITLE, ORIGINAL_URL, paragraphs, T0)])),
    ])
    assert provenance(sqlite_url)[member.link] == (ORIGINAL_URL, ORIGINAL_URL, "copy")
    assert provenance(sqlite_url)[ORIGINAL_URL] == (ORIGINAL_URL, None, "original")


@pytest.mark.parametrize("where", ["before", "after"])
def test_a_post_holding_the_whole_article_and_more_of_its_own_is_a_copy(sqlite_url: str, where: str) -> None:
    """A copier puts eight paragraphs of its own before (or after) Khaama's whole article:
    it copied the article, and rewrote nothing of it."""
    story, own = article(43, paragraphs=4), article(44, paragraphs=8)
    copier = Item(TITLE, "https://mirrorofmirrors.example/w.html", own + story if where == "before" else story + own, T0 + hours(2))
    make_pipeline(sqlite_url, FEEDS).ingest([
        capture(KHAAMA, T0 + hours(0.5), rss("Khaama Press", "https://www.khaama.com/", [khaama_item(story)])),
        capture(MIRRORS, T0 + hours(2.5), rss("Mirror of Mirrors", "https://mirrorofmirrors.example/", [copier])),
    ])
    assert provenance(sqlite_url)[copier.link] == (ORIGINAL_URL, ORIGINAL_URL, "copy")
