"""The normalise stage: what an entry says, which paragraphs are the story, and tokens in every script."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracker.model import Attribution, ParsedEntry
from tracker.detection.normalise import (
    document_from_paragraphs,
    fold,
    is_credit,
    paragraph_key,
    story_paragraphs,
    to_document,
    tokens,
    words,
)
from tracker.reader.parse import parse_feed

FEEDS = Path(__file__).parents[1] / "fixtures" / "feeds"
KHAAMA_ORIGINAL = "https://www.khaama.com/pakistani-airstrikes-kill-civilians-in-eastern-afghanistan/"


def html_entry(content: str, summary: str = "", title: str = "A title") -> ParsedEntry:
    return ParsedEntry(
        guid=None,
        link=None,
        title=title,
        author=None,
        claimed_at=None,
        content=content,
        content_is_html=True,
        summary=summary,
    )


# --------------------------------------------------------------------------- a scraper mirror


@pytest.fixture(scope="module")
def mirror() -> ParsedEntry:
    """ru24.pro-style mirror of a Khaama Press article, chrome lines and footer included."""
    return parse_feed((FEEDS / "mirror_ru24_khaama.xml").read_bytes()).entries[0]


def test_mirror_page_paragraphs_are_read_in_order(mirror: ParsedEntry) -> None:
    document = to_document(mirror)
    assert document.paragraphs[:6] == (
        "ru24.pro",
        "News in English",
        "Январь",
        "2025",
        "Pakistani airstrikes kill civilians in eastern Afghanistan",
        "0",
    )
    assert document.paragraphs[6].startswith("Pakistani aircraft struck several villages")
    assert document.paragraphs[-1].startswith("The post Pakistani airstrikes")
    assert len(document.paragraphs) == 11


def test_mirror_chrome_and_footer_are_not_story(mirror: ParsedEntry) -> None:
    document = to_document(mirror)
    story = story_paragraphs(document, mirror.title)
    assert not set(story) & {0, 1, 2, 3, 4, 5}  # site name, section, month, year, title, comment count
    assert 10 not in story  # "The post … appeared first on Khaama Press."
    assert {6, 7, 8} <= set(story)


def test_mirror_story_is_exactly_the_article_once_the_disclaimer_is_known_boilerplate(mirror: ParsedEntry) -> None:
    document = to_document(mirror)
    disclaimer = document.keys[9]
    assert document.paragraphs[9].startswith("DISCLAIMER")
    assert story_paragraphs(document, mirror.title, boilerplate={disclaimer}) == [6, 7, 8]


def test_mirror_footer_credits_khaama_press_with_the_original_url(mirror: ParsedEntry) -> None:
    """The footer links the original under its title: that link, not the site's home page, is the credit's URL."""
    document = to_document(mirror)
    assert document.attributions == (Attribution("footer", "Khaama Press", KHAAMA_ORIGINAL),)


def test_long_site_name_line_is_chrome_when_named() -> None:
    document = document_from_paragraphs(
        [
            "ru24.pro – Russian news in English",
            "Islamabad said the strikes targeted militant hideouts in the border district.",
            "The UN mission called for an independent investigation into the deaths.",
        ]
    )
    assert story_paragraphs(document, "Title") == [0, 1, 2]  # six words: too long to guess it is chrome
    assert story_paragraphs(document, "Title", names=["ru24.pro – Russian news in English"]) == [1, 2]


def test_boilerplate_keys_are_dropped_anywhere() -> None:
    paragraphs = [
        "Kabul traders say the price of coal has risen by a third since December.",
        "Subscribe to our newsletter for the day's top stories delivered to your inbox every morning.",
        "Officials expect new shipments within two weeks and warned against hoarding.",
    ]
    document = document_from_paragraphs(paragraphs)
    # The publisher's boilerplate was seen on other items, differently spaced and cased.
    other = document_from_paragraphs(["SUBSCRIBE to our newsletter for the day's  top stories delivered to your inbox every morning!"])
    assert story_paragraphs(document, "t") == [0, 1, 2]
    assert story_paragraphs(document, "t", boilerplate={other.keys[0]}) == [0, 2]


def test_a_text_of_only_short_lines_is_kept_whole() -> None:
    """Better compared whole than not at all: a list of short lines is still text."""
    document = document_from_paragraphs(["Bread 45 afghanis", "Rice 90 afghanis", "Coal 1600 afghanis"])
    assert story_paragraphs(document, "Prices") == [0, 1, 2]


# --------------------------------------------------------------------------- credits


def test_wordpress_footer_in_the_summary_is_an_attribution() -> None:
    entry = parse_feed((FEEDS / "wordpress_rss.xml").read_bytes()).entries[0]
    document = to_document(entry)
    assert document.attributions == (
        Attribution("footer", "Khaama Press", "https://www.khaama.com/kabuls-winter-fuel-prices-climb-as-imports-slow/"),
    )
    assert story_paragraphs(document, entry.title) == [0, 1, 2]


def test_feed_markup_attributions_are_kept_first() -> None:
    entry = parse_feed((FEEDS / "rss_source_element.xml").read_bytes()).entries[0]
    document = to_document(entry)
    assert document.attributions[0].kind == "source_element"
    assert document.attributions[0].name == "Northern Echo"


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        (
            "<p>This article was originally published by The Conversation.</p>",
            Attribution("originally_published", "The Conversation", None),
        ),
        (
            "<p>This article was originally published by "
            "<a href='https://theconversation.com/coal-prices-123'>The Conversation</a>.</p>",
            Attribution("originally_published", "The Conversation", "https://theconversation.com/coal-prices-123"),
        ),
        (
            "<p>Read the full story at Dawn: https://www.dawn.com/news/1884512</p>",
            Attribution("read_full", "Dawn", "https://www.dawn.com/news/1884512"),
        ),
        (
            "<p>Read the full story at <a href='https://www.dawn.com/news/1884512'>Dawn</a>.</p>",
            Attribution("read_full", "Dawn", "https://www.dawn.com/news/1884512"),
        ),
        ("<p>Source: Reuters</p>", Attribution("source_line", "Reuters", None)),
        (
            "<p>Originally published at https://blog.example.org/2025/01/coal</p>",
            Attribution("originally_published", None, "https://blog.example.org/2025/01/coal"),
        ),
        (
            "<p>Der Beitrag <a href='https://mz.example.de/a1043'>Bürgerentscheid</a> erschien zuerst auf "
            "<a href='https://mz.example.de'>MZ Lokal</a>.</p>",
            Attribution("footer", "MZ Lokal", "https://mz.example.de/a1043"),
        ),
    ],
    ids=["originally-published", "originally-published-linked", "read-full-url", "read-full-linked", "source", "url-only", "german-footer"],
)
def test_credit_lines_are_recognised(markup: str, expected: Attribution) -> None:
    body = "<p>Coal prices in Kabul rose by a third in December, traders said on Monday.</p>" + markup
    document = to_document(html_entry(body))
    assert document.attributions == (expected,)
    assert story_paragraphs(document, "Coal prices") == [0]  # the credit line is not story text


@pytest.mark.parametrize(("line", "kind"), [
    ("This article first appeared in Khaama Press.", "originally_published"),
    ("This story originally appeared on Khaama Press.", "originally_published"),
    ("This post first ran in Khaama Press.", "originally_published"),
    ("Originally published on Khaama Press on January 7, 2025.", "originally_published"),
    ("This article first appeared on Khaama Press on 7 Jan. 2025.", "originally_published"),
    ("This article is republished from Khaama Press under a Creative Commons license. Read the original article.", "republished"),
    ("Republished with permission from Khaama Press.", "republished"),
    ("Reprinted with kind permission of Khaama Press.", "republished"),
    ("Syndicated from Khaama Press", "republished"),
    ("Cross-posted from Khaama Press.", "republished"),
])
def test_syndication_credits_in_their_common_wordings(line: str, kind: str) -> None:
    """The wordings partners and Creative Commons republishers use: each credits the name."""
    document = to_document(html_entry(f"<p>Coal prices in Kabul rose by a third in December, traders said.</p><p>{line}</p>"))
    assert document.attributions == (Attribution(kind, "Khaama Press", None),)
    assert story_paragraphs(document, "Coal prices") == [0]


def test_the_conversation_credit_links_the_original_article() -> None:
    line = ("This article is republished from <a href='https://theconversation.com/'>The Conversation</a> under a "
            "Creative Commons license. Read the <a href='https://theconversation.com/coal-123'>original article</a>.")
    document = to_document(html_entry(f"<p>Coal prices in Kabul rose by a third in December, traders said.</p><p>{line}</p>"))
    assert document.attributions == (Attribution("republished", "The Conversation", "https://theconversation.com/coal-123"),)


@pytest.mark.parametrize("paragraph", [
    "Published on January 7, 2025.", "This report was published in Nature on Monday by researchers from Kabul University.",
    "The book was reprinted from the original plates in 1990 after the fire destroyed the archive.",
    # A mirror's header, naming nobody (it would stand as an unfollowed source on every post).
    "Reposted from around the web", "Republished from various sources.", "Syndicated from other outlets",
])
def test_sentences_about_publishing_are_not_credits(paragraph: str) -> None:
    assert not is_credit(paragraph)


@pytest.mark.parametrize("line", [
    "Source: Khaama Press", "(Source: Khaama Press)", "[Source: Khaama Press]", "Source – Khaama Press",
    "Источник: Khaama Press", "Fuente: Khaama Press", "Quelle: Khaama Press", "Fonte: Khaama Press",
    "المصدر: Khaama Press", "منبع: Khaama Press", "来源：Khaama Press", "출처: Khaama Press",
])
def test_source_lines_are_read_in_the_languages_news_is_written_in(line: str) -> None:
    document = to_document(html_entry(f"<p>Coal prices in Kabul rose by a third in December, traders said.</p><p>{line}</p>"))
    assert document.attributions == (Attribution("source_line", "Khaama Press", None),)
    assert story_paragraphs(document, "Coal prices") == [0]



# One credit line per pattern of `_CREDIT_PATTERNS`, in its order, as a summary gives it.
_SUMMARY_CREDITS = [
    "The post <a href='https://k.example/a'>Fuel prices</a> appeared <b>first</b> on <a href='https://k.example'>K Press</a>.",
    "Der Beitrag Bürgerentscheid erschien zuerst auf MZ Lokal.",
    "L’article Le budget est apparu en premier sur Le Site.",
    "La entrada El presupuesto se publicó primero en El Sitio.",
    "L'articolo Il bilancio proviene da Il Sito.",
    "O post O orçamento apareceu primeiro em O Site.",
    "Het bericht De begroting verscheen eerst op De Site.",
    "Запись Бюджет впервые появилась на Сайт.",
    "This story was &#111;riginally published by The Conversation.",
    "Republished with permission from The Diplomat.",
    "CONTINUE READING THE FULL STORY AT DAWN: https://www.dawn.com/news/1884512",
    "<a href='https://www.dawn.com/news/1884512'>Read more</a>",
    "Courtesy of: Reuters",
]


def test_every_credit_wording_is_found_in_a_summary() -> None:
    """A summary is laid out only when it holds a word some credit needs: each wording
    still gives its credit there (and a pattern added without a sample here fails)."""
    from tracker.detection.normalise import _CREDIT_PATTERNS

    assert len(_SUMMARY_CREDITS) == len(_CREDIT_PATTERNS)
    for line, (kind, _) in zip(_SUMMARY_CREDITS, _CREDIT_PATTERNS, strict=True):
        entry = html_entry("<p>Coal prices in Kabul rose by a third in December.</p>", summary=f"<p>Teaser.</p><p>{line}</p>")
        assert [a.kind for a in to_document(entry).attributions] == [kind], line


def test_a_summary_without_a_credit_gives_none() -> None:
    entry = html_entry("<p>Coal prices in Kabul rose by a third in December.</p>", summary="<p>Coal prices rose, traders said.</p>")
    assert to_document(entry).attributions == ()


def test_story_sentence_mentioning_a_source_is_not_a_credit() -> None:
    paragraph = "The source of the leak, officials said, was a contractor working for the ministry."
    assert not is_credit(paragraph)
    assert to_document(html_entry(f"<p>{paragraph}</p>")).attributions == ()


def test_share_widget_lines_are_dropped() -> None:
    document = document_from_paragraphs(
        [
            "Share this:",
            "Click to share on Twitter (Opens in new window)",
            "Click to share on Facebook (Opens in new window)",
            "The harbour ferry will leave at 7.45 on weekdays from Monday, the operator said.",
            "Like this:",
            "Passengers with season tickets do not need to do anything, it added.",
            "Related",
        ]
    )
    assert story_paragraphs(document, "Ferry timetable") == [3, 5]


@pytest.mark.parametrize(
    "paragraph",
    ["X（旧ツイッター）は24日、新たな利用規約を発表した。", "Telegram 创始人杜罗夫在法国被捕。"],
    ids=["japanese", "chinese"],
)
def test_cjk_story_paragraph_starting_with_a_platform_name_is_kept(paragraph: str) -> None:
    document = document_from_paragraphs(
        [
            "北京时间周一上午，法国检方发布声明称，调查仍在进行之中。",
            paragraph,
            "俄罗斯外交部表示，将密切关注事态发展，并要求法方提供领事探视。",
        ]
    )
    assert story_paragraphs(document, "标题") == [0, 1, 2]


def test_plain_text_body_is_split_into_lines() -> None:
    entry = ParsedEntry(None, None, "t", None, None, "First line of text.\n\n  Second   line.\n", False)
    assert to_document(entry).paragraphs == ("First line of text.", "Second line.")


# --------------------------------------------------------------------------- tokens


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("北京地铁新线路", ["北", "京", "地", "铁", "新", "线", "路"]),
        ("東京タワーへ行く", ["東", "京", "タ", "ワ", "ー", "へ", "行", "く"]),
        ("2025年 Meta 周二", ["2025", "年", "meta", "周", "二"]),
        ("The Quick, brown FOX!", ["the", "quick", "brown", "fox"]),
        ("Straße in MÜNSTER", ["strasse", "in", "münster"]),
        ("Привет, МИР — Ёлка", ["привет", "мир", "ёлка"]),
        ("الأمم المتحدة", ["الأمم", "المتحدة"]),
        ("ＡＢＣ ｆｕｌｌ-width", ["abc", "full", "width"]),
    ],
    ids=["chinese", "japanese", "mixed-cjk-latin", "english", "german", "russian", "arabic", "fullwidth"],
)
def test_tokens_per_script(text: str, expected: list[str]) -> None:
    assert words(text) == expected
    # Compared, the same words (Cyrillic letters that imitate Latin ones read as those: test_homoglyphs).
    assert len(tokens(text)) == len(expected)


def test_a_plain_ascii_text_has_the_tokens_it_has_beside_other_scripts() -> None:
    # ASCII text is tokenised by a shortcut: a copy that adds one accented word elsewhere
    # still shares every other token (and shingle) with it.
    text = "Snake_case x2 A-B, 3.5% of 'EU' (via @user #tag) ~~ caf\\e [ok]!?"
    assert tokens(text) == ["snake", "case", "x2", "a", "b", "3", "5", "of", "eu", "via", "user", "tag", "caf", "e", "ok"]
    assert tokens(text + " Müller") == [*tokens(text), "muller"]
    assert fold(text) == text.lower()


def test_arabic_diacritics_and_tatweel_are_folded_away() -> None:
    plain = tokens("اللغة العربية")
    assert tokens("اللُّغَةُ الْعَرَبِيَّةُ") == plain  # vowel marks
    assert tokens("اللغـــة العربيـــة") == plain  # tatweel (kashida)
    assert fold("كِتَاب") == "كتاب"


def test_paragraph_key_ignores_case_spacing_and_punctuation() -> None:
    a = paragraph_key(tokens("The  harbour FERRY will leave at 7.45 on weekdays."))
    b = paragraph_key(tokens("the harbour ferry\nwill leave at 7 45 on weekdays"))
    c = paragraph_key(tokens("The harbour ferry will leave at 8.15 on weekdays."))
    assert a == b
    assert a != c


def test_document_keys_match_across_items() -> None:
    one = document_from_paragraphs(["Coal prices ROSE by a third.", "Unique to one."])
    two = document_from_paragraphs(["Something else entirely.", "coal prices rose by a  third"])
    assert one.keys[0] == two.keys[1]
    assert one.keys[1] not in two.keys
    assert one.words() == ["coal", "prices", "rose", "by", "a", "third", "unique", "to", "one"]
    assert one.words([1]) == ["unique", "to", "one"]


def test_characters_that_render_as_nothing_do_not_split_or_hide_words() -> None:
    """A mirror that scatters zero-width spaces, word joiners, soft hyphens or bidi marks in
    its copy's words shows the same text: the same tokens."""
    plain = "Officials reopened the border crossing after talks"
    hidden = "Offi\u200bcials reopen\u00aded the bor\u2060der cross\u200fing after ta\ufefflks"
    assert tokens(hidden) == tokens(plain)
    # Persian's zero-width non-joiner ends a token as a space does: a copy typing a space for it reads the same.
    assert tokens("می\u200cخواهم") == tokens("می خواهم") != tokens("میخواهم")


def test_html_escaped_twice_is_read_as_markup() -> None:
    """A feed whose CDATA holds "&lt;p&gt;…" (escaped once too often) says the same as one
    holding the markup: its copy is verbatim, not a "rewrite" full of tag names."""
    from html import escape

    markup = "<p>Coal prices in Kabul rose by a third, <a href='https://k.example/a'>traders</a> said.</p><p>Fuel followed.</p>"
    plain = to_document(html_entry(markup)).paragraphs
    assert to_document(html_entry(escape(markup))).paragraphs == plain == ("Coal prices in Kabul rose by a third, traders said.", "Fuel followed.")
    # Text that only mentions a tag is left as written.
    assert to_document(html_entry("<p>Close it with &lt;/a&gt; after the &lt;a&gt; tag.</p>")).paragraphs == (
        "Close it with </a> after the <a> tag.",)


@pytest.mark.parametrize("sentence", [
    "Quelle – so heißt der neue Roman von Anna Müller, der am Montag erscheint.",
    "Sources: the fire started in the kitchen, police said on Monday.",
    "Fuente: el gobierno anunció nuevas medidas para el sector agrícola y ganadero.",
])
def test_a_story_sentence_after_a_source_label_is_no_credit(sentence: str) -> None:
    document = to_document(html_entry(f"<p>Coal prices in Kabul rose by a third in December, traders said.</p><p>{sentence}</p>"))
    assert document.attributions == ()
    assert story_paragraphs(document, "Coal prices") == [0, 1]


@pytest.mark.parametrize(("opening", "name"), [
    ("KABUL, Afghanistan (AP) — Coal prices rose by a third in December, traders said.", "AP"),
    ("LONDON, Jan 7 (Reuters) - Coal prices rose by a third in December, traders said.", "Reuters"),
    ("Kabul (Khaama Press) – Coal prices rose by a third in December, traders said.", "Khaama Press"),
])
def test_a_dateline_credits_the_agency_it_names_and_stays_story_text(opening: str, name: str) -> None:
    document = to_document(html_entry(f"<p>{opening}</p><p>Traders in Herat said the same of wheat flour.</p>"))
    assert document.attributions == (Attribution("dateline", name, None),)
    assert story_paragraphs(document, "Coal prices") == [0, 1]


@pytest.mark.parametrize("opening", [
    "The minister (who spoke on condition of anonymity) said prices rose.",
    "Coal prices rose by a third (33%) - traders said.",
])
def test_a_parenthesis_in_a_sentence_is_no_dateline(opening: str) -> None:
    assert to_document(html_entry(f"<p>{opening}</p>")).attributions == ()
