"""Normalise stage: an entry's HTML → paragraphs, attributions, and the story's tokens.

Three separate questions are answered here:
- what the entry *says* (`to_document`: HTML to text with inscriptis, paragraph by
  paragraph, and the credits it gives — "The post … appeared first on X", "originally
  published by X", "Read the full story at X");
- which paragraphs are the *story* (`story_paragraphs`: without a mirror's chrome lines,
  share widgets, credit footers, or the boilerplate a publisher repeats on its items);
- how text becomes comparable *tokens* in every script (`tokens`): words where words are
  separated by spaces, single characters in CJK and other scripts written without spaces.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Container, Iterable, Sequence
from dataclasses import replace
from html import unescape

import regex
import xxhash
from inscriptis import Inscriptis
from inscriptis.css_profiles import CSS_PROFILES
from inscriptis.model.canvas.block import Block
from inscriptis.model.config import ParserConfig
from lxml.etree import ParserError
from lxml.html import HtmlElement, document_fromstring

from tracker.detection.mojibake import repaired
from tracker.detection.variants import comparable
from tracker.model import Attribution, Document, ParsedEntry, ReadBody

# An entry's text is read (normalised, fingerprinted, stored) up to this many characters:
# about 30,000 words, several times the longest articles. The rest of a longer entry is
# only counted (`item_versions.body_chars`), so one hostile entry costs bounded memory.
ENTRY_TEXT_MAX = 200_000

# How text is read into comparable tokens (`tokens`). The database records it with the
# detection settings: when it changes, the first start fingerprints again the texts it
# reads differently (`read_differently`). 2: text compared as `variants.comparable` reads it;
# 3: and text a wrong charset decoded as it was (`mojibake.repaired`).
TEXT_RULES = 3

_INSCRIPTIS = ParserConfig(css=CSS_PROFILES["strict"], display_links=False, display_images=False)

_WHITESPACE_RUN = re.compile(r"\s+")  # `\s` of a str pattern is exactly `str.isspace`


def _merge_normal_text(self: Block, text: str) -> None:
    """inscriptis's `Block.merge_normal_text`, whitespace runs collapsed by one regex rather
    than character by character in Python (a fifth of a new item's CPU went there); the same
    text, index and state after every call (tests/detection/test_normalise_inscriptis.py)."""
    normalized = _WHITESPACE_RUN.sub(" ", text)
    if self.collapsable_whitespace and normalized[:1] == " ":
        normalized = normalized[1:]
    if not normalized:
        return
    self.collapsable_whitespace = normalized[-1] == " "
    # The block's prefix (indent, bullet) is asked for only when text starts the block, as inscriptis does.
    merged = unescape(f"{self.prefix.first}{normalized}" if not self._content else normalized)
    self._content += merged
    self.idx += len(merged)


INSCRIPTIS_MERGE_NORMAL_TEXT = Block.merge_normal_text  # inscriptis's own, kept for the comparison test
Block.merge_normal_text = _merge_normal_text  # type: ignore[method-assign]

# Scripts written without spaces between words: each character is a token there.
_NO_SPACE = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}\p{Tibetan}"
_TOKEN = regex.compile(rf"[{_NO_SPACE}]|[[\p{{L}}\p{{N}}\p{{M}}]--[{_NO_SPACE}]]+", regex.V1)
_ASCII_TOKEN = re.compile(r"[A-Za-z0-9]+")
# Arabic-script vowel marks and the tatweel are optional in writing; copies drop or add them.
_ARABIC_OPTIONAL = regex.compile(r"[\u0610-\u061A\u064B-\u065F\u0670\u06D6-\u06ED\u0640]")
# Characters that render as nothing: a soft hyphen, zero-width spaces and joiners of words,
# bidi marks. A copy scattered with them inside words reads the same and is the same text.
# (ZWNJ and ZWJ are kept: Persian and Indic scripts spell words with them.)
_INVISIBLE = regex.compile(r"[\u00AD\u061C\u180E\u200B\u200E\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]")
# A tag as text: what markup escaped once too often leaves in a fragment's text.
_ESCAPED_TAG = regex.compile(r"</?(?:p|a|div|br|span|strong|em|b|i|img|ul|ol|li|h[1-6]|blockquote|figure)\b[^<>]{0,300}>", regex.IGNORECASE)
_BULLET = regex.compile(r"^\s*(?:[*•·▪‣◦-]|\d+[.)])\s+")

_READ_MORE = (
    "read more|continue reading|full story|подробнее|читать далее|читать полностью|leer más|seguir leyendo|mehr lesen"
    "|weiterlesen|lire la suite|en savoir plus|leia mais|continua a leggere|lees meer|devamını oku|اقرأ المزيد"
    "|ادامه مطلب|阅读全文|閱讀全文|続きを読む|더보기"
)
# "Source: X" in the languages news is written in, in brackets or not, after a colon or a dash.
_SOURCE_LABELS = (
    "source|sources|via|courtesy of|originally from|источник|джерело|източник|fuente|fonte|quelle|bron|kaynak"
    "|źródło|zrodlo|sumber|πηγή|المصدر|مصدر|منبع|来源|來源|消息来源|出典|出所|출처|स्रोत"
)
_SITE = r"(?P<site>.{1,120}?)"
# A name after "Source:" (a few words, no clause: "Source: the fire started in the kitchen,
# police said" is a sentence of the story).
_NAME = r"(?P<site>[^\s,;!?)\]]+(?:\s+[^\s,;!?)\]]+){0,5}?)"
_TITLE = r"(?P<title>.{1,400}?)"
# Where a mirror says it found its posts, naming nobody: "Reposted from around the web".
_NOBODY = r"(?:around|all over|across|the (?:web|internet|net)\b|elsewhere|various|other\b|several|multiple|our\b|wires?\b|agencies)"
# The day a credit says the article appeared: "… first appeared on X on 7 January 2025".
_ON_DAY = r"(?:,? on (?:[a-z]+day,? )?(?:[a-z]{3,9}\.? \d{1,2},? \d{4}|\d{1,2} [a-z]{3,9}\.?,? \d{4}|\d{4}-\d{2}-\d{2}))?"
_URL = r"(?P<url>https?://\S+?)"
# WordPress/Yoast's default RSS footer in the languages it ships, then the common
# wordings of syndication credits. Each must be a paragraph of its own.
_CREDIT_PATTERNS: tuple[tuple[str, regex.Pattern[str]], ...] = tuple(
    (kind, regex.compile(pattern, regex.IGNORECASE))
    for kind, pattern in (
        ("footer", rf"^the post {_TITLE} appeared first on {_SITE}\.?$"),
        ("footer", rf"^der beitrag {_TITLE} erschien zuerst auf {_SITE}\.?$"),
        ("footer", rf"^l[’']article {_TITLE} est apparu en premier sur {_SITE}\.?$"),
        ("footer", rf"^la entrada {_TITLE} se publicó primero en {_SITE}\.?$"),
        ("footer", rf"^l[’']articolo {_TITLE} (?:sembra essere il primo su|proviene da) {_SITE}\.?$"),
        ("footer", rf"^o post {_TITLE} apareceu primeiro em {_SITE}\.?$"),
        ("footer", rf"^het bericht {_TITLE} verscheen eerst op {_SITE}\.?$"),
        ("footer", rf"^запись {_TITLE} впервые появилась (?:на )?{_SITE}\.?$"),
        (
            # "This article first appeared in X" as often as "… was first published by X",
            # and the day it did ("… on X on January 7, 2025").
            "originally_published",
            rf"^(?:this (?:article|story|post|piece|report|column|essay) (?:(?:was|is|has been) )?)?(?:originally|first) "
            rf"(?:published|appeared|posted|ran) (?:by|on|at|in) {_SITE}{_ON_DAY}(?:[:,]? ?{_URL})?\.?$",
        ),
        (
            # The Conversation's "This article is republished from X under a Creative
            # Commons license. Read the original article.", a partner's "Reprinted with permission from X".
            "republished",
            rf"^(?:this (?:article|story|post|piece|report|column|essay) (?:is|was|has been) )?"
            rf"(?:republished|reprinted|reposted|syndicated|cross-?posted|reproduced)(?: here)?"
            rf"(?: with (?:kind )?permission)? (?:from|by|of) (?!{_NOBODY}){_SITE}(?: under (?:a|the) [^.]{{1,60}}licen[cs]e)?"
            rf"(?:[:,]? ?{_URL})?(?:\.? read the original(?: article)?)?\.?$",
        ),
        (
            "read_full",
            rf"^(?:read|continue reading|see) (?:the )?(?:full|whole|rest of the|original) "
            rf"(?:story|article|post|report)? ?(?:at|on|from) {_SITE}(?:[:,]? ?{_URL})?\.?$",
        ),
        # "Read more: <url>", or a "Read more" link: an aggregator's pointer to its source.
        ("read_full", rf"^(?:{_READ_MORE})\s*(?:[:：»›→…-]|\.\.\.)?\s*{_URL}?\s*[»›→…]?\.?$"),
        (
            "source_line",
            rf"^[(\[]?\s*(?:{_SOURCE_LABELS})\s*[:：\-–—]\s*{_NAME}(?:[:,]? ?{_URL})?\s*[)\]]?\.?$",
        ),
    )
)
# A word every credit pattern above holds. A summary is read only for its credits; one
# whose text has none of these words gives none, and is not laid out as paragraphs (that
# was a sixth of the time of storing an entry). Keep in step with the patterns: a test
# checks that each one's sample credit holds one of these words.
_CREDIT_WORD = regex.compile(
    r"first|zuerst|premier|primero|primo|proviene|primeiro|eerst|впервые|original|full|whole|rest|source|via|courtesy"
    r"|republish|reprint|repost|syndicat|cross-?post|reproduc"
    rf"|{_SOURCE_LABELS}|{_READ_MORE}",
    regex.IGNORECASE,
)
# A dateline naming the agency or paper a story is from: "KABUL, Afghanistan (AP) — …",
# "LONDON, Jan 7 (Reuters) - …". It opens the story (and stays story text); it credits
# the name when the name is a publisher followed, and nobody otherwise (a paper's own
# abbreviation, a place).
_DATELINE = regex.compile(r"^[^\W\d_][^()!?\n]{1,60}?\s?\((?P<site>[^()\d]{2,40}?)\)\s*(?:[—–]|--?)\s*\S")
_SHARE_WIDGET = regex.compile(
    r"^(?:share(?: this| on| via)?|tweet|pin it|e-?mail|print|like this|click to (?:share|print|email)"
    r"|follow us|related(?: posts| articles| stories)?|advertisement|subscribe|comments?|leave a comment"
    r"|facebook|twitter|x|linkedin|whatsapp|telegram|reddit)\b[^.!?。！？]{0,80}$",
    regex.IGNORECASE,
)
_SENTENCE_END = regex.compile(r"[.!?…。！？؟»”\"')]\s*$")
_CHROME_MAX_TOKENS = 4
_URL = regex.compile(r"https?://\S+")


def fold(text: str) -> str:
    """Unicode-normalise text for comparison: NFKC, case-folded, optional Arabic marks removed."""
    if text.isascii():
        return text.lower()  # ASCII is its own NFKC form, lower-cased is case-folded, has no Arabic
    return _ARABIC_OPTIONAL.sub("", _INVISIBLE.sub("", unicodedata.normalize("NFKC", text)).casefold())


def words(text: str) -> list[str]:
    """The words of any script as written, folded: words, or single characters where words
    have no spaces. What identifies an entry by its title is made of these (and stored), so
    they do not change from one release to the next."""
    return _split(fold(text))


def tokens(text: str) -> list[str]:
    """Comparable tokens of any script: `words` as a copy that changes no word still has
    them (`variants.comparable`: look-alike letters, accents, Arabic-script letter forms,
    digits of every script, characters that render as nothing; `mojibake.repaired`: text
    a wrong charset decoded)."""
    if text.isascii():
        return _split(fold(text))
    return _split(comparable(fold(repaired(text))))


def _split(folded: str) -> list[str]:
    if folded.isascii():
        # The same tokens, three times faster: in ASCII the letters, digits and marks of
        # `_TOKEN` are [A-Za-z0-9], and no script writes without spaces.
        return _ASCII_TOKEN.findall(folded)
    return _TOKEN.findall(folded)


def read_differently(text: str, since: int) -> bool:
    """Whether `tokens` reads this text otherwise than text rules `since` did (1: before
    `variants.comparable`; 2: before `mojibake.repaired`): its stored fingerprints are then stale."""
    if text.isascii():
        return False
    if repaired(text) != text:
        return True
    folded = fold(text)
    return since < 2 and comparable(folded) != folded


def words_without_urls(document: Document) -> list[str]:
    """A document's tokens without those of URLs: a credit's link repeats the article's
    slug, i.e. its title, which a mirror's header also repeats; that is not copied text."""
    words: list[str] = []
    for paragraph, paragraph_words in zip(document.paragraphs, document.tokens, strict=True):
        words.extend(tokens(_URL.sub(" ", paragraph)) if "://" in paragraph else paragraph_words)
    return words


def paragraph_key(words: Sequence[str]) -> int:
    """A stable 64-bit key for a paragraph's tokens: equal for paragraphs that differ only in case and spacing."""
    return xxhash.xxh64_intdigest(" ".join(words).encode())


def document_from_paragraphs(paragraphs: Sequence[str], attributions: Iterable[Attribution] = ()) -> Document:
    """A Document of already-extracted paragraphs (as stored), with their tokens and keys."""
    words = tuple(tuple(tokens(p)) for p in paragraphs)
    return Document(tuple(paragraphs), words, tuple(paragraph_key(w) for w in words), tuple(attributions))


def _html_paragraphs(markup: str, only_if_crediting: bool = False) -> tuple[list[str], dict[str, str]]:
    """A fragment's paragraphs of text and its links by their label; with `only_if_crediting`,
    nothing when its text holds no word a credit needs."""
    markup = markup.strip()
    if not markup:
        return [], {}
    try:
        tree = document_fromstring(markup)
    except (ParserError, ValueError):
        return _text_paragraphs(markup), {}
    # text_content() holds every word inscriptis would lay out (and the scripts and
    # styles it would not): a word missing there is missing from every paragraph.
    content = tree.text_content()
    if _escaped_twice(tree, content):
        return _html_paragraphs(content, only_if_crediting)
    if only_if_crediting and not _CREDIT_WORD.search(content):
        return [], {}
    anchors: dict[str, str] = {}
    for anchor in tree.iter("a"):
        href = (anchor.get("href") or "").strip()
        label = " ".join(anchor.text_content().split())
        if href and label:
            anchors.setdefault(fold(label), href)
    text = Inscriptis(tree, _INSCRIPTIS).get_text()
    return _text_paragraphs(text), anchors


def _escaped_twice(tree: HtmlElement, content: str) -> bool:
    """Whether a fragment is HTML escaped twice (a feed's CDATA holding "&lt;p&gt;…"): no
    markup but paragraphs, and text that opens with tags. Its text is then read as markup."""
    return (content.lstrip().startswith("<") and len(_ESCAPED_TAG.findall(content, endpos=4000)) >= 2
            and not tree.xpath("//body//*[not(self::p)]"))


def _text_paragraphs(text: str) -> list[str]:
    lines = (_BULLET.sub("", " ".join(line.split())) for line in text.splitlines())
    return [line for line in lines if line]


def _credit(paragraph: str, anchors: dict[str, str]) -> Attribution | None:
    for kind, pattern in _CREDIT_PATTERNS:
        match = pattern.match(paragraph)
        if not match:
            continue
        groups = match.groupdict()
        site = (groups.get("site") or "").strip(" .:") or None
        url = groups.get("url")
        if kind == "footer" and groups.get("title"):
            # The footer links the original article under its title; prefer that URL.
            url = anchors.get(fold(groups["title"].strip())) or anchors.get(fold(site or ""))
        elif site and not url:
            # "Read the original article" links the article itself; the name, its site.
            url = (kind == "republished" and anchors.get("original article")) or anchors.get(fold(site))
        elif not site and not url:
            url = anchors.get(fold(paragraph.strip(" .:…»›→")))  # a "Read more" link
            if url is None:
                return None
        if site and regex.match(r"^https?://", site):
            site, url = None, url or site
        return Attribution(kind, site, url)
    return None


def _capped(paragraphs: list[str]) -> tuple[list[str], bool]:
    """The paragraphs up to ENTRY_TEXT_MAX characters of text (the last one cut between
    words), and whether anything was cut."""
    used = 0
    for index, paragraph in enumerate(paragraphs):
        if used + len(paragraph) > ENTRY_TEXT_MAX:
            head = paragraph[: ENTRY_TEXT_MAX - used]
            if " " in head and len(paragraph) > len(head) and not paragraph[len(head)].isspace():
                head = head.rsplit(" ", 1)[0]  # no half word: it would be a token no copy has
            return paragraphs[:index] + ([head] if head.strip() else []), True
        used += len(paragraph) + 1  # and the newline that joins it to the next
    return paragraphs, False


def to_document(entry: ParsedEntry) -> Document:
    """Read an entry's body as paragraphs and collect every credit it gives (`read_body`)."""
    return document_of(read_body(entry))


def read_body(entry: ParsedEntry) -> ReadBody:
    """An entry's body as paragraphs, and every credit it gives.

    Credits come from the feed's own markup (RSS `<source>`, Atom `rel="via"`) and from
    credit paragraphs in the body or in the summary (where WordPress puts its footer).
    """
    if entry.content_is_html:
        paragraphs, anchors = _html_paragraphs(entry.content)
    else:
        paragraphs, anchors = _text_paragraphs(entry.content), {}
    paragraphs, cut = _capped(paragraphs)
    credits = list(entry.attributions)
    for paragraph in paragraphs:
        credit = _credit(paragraph, anchors)
        if credit:
            credits.append(credit)
    credits.extend(Attribution("dateline", m["site"].strip(), None) for p in paragraphs[:3] if (m := _DATELINE.match(p)))
    if entry.summary:
        summary_paragraphs, summary_anchors = _html_paragraphs(entry.summary, only_if_crediting=True)
        for paragraph in summary_paragraphs:
            credit = _credit(paragraph, summary_anchors)
            if credit:
                credits.append(credit)
    return ReadBody(tuple(paragraphs), tuple(dict.fromkeys(credits)), cut or entry.content_cut)


def document_of(body: ReadBody) -> Document:
    """The document of a body read as paragraphs (their tokens and keys)."""
    document = document_from_paragraphs(body.paragraphs, body.attributions)
    return replace(document, truncated=True) if body.truncated else document


def credits_in(paragraphs: Iterable[str]) -> list[Attribution]:
    """The credits given by paragraphs of plain text (a page's article, say)."""
    return list(dict.fromkeys(credit for paragraph in paragraphs if (credit := _credit(paragraph, {}))))


def is_credit(paragraph: str) -> bool:
    """True when a paragraph is a syndication credit line rather than story text."""
    return any(pattern.match(paragraph) for _, pattern in _CREDIT_PATTERNS)


def _is_chrome(paragraph: str, words: tuple[str, ...], title_words: tuple[str, ...], names: Container[tuple[str, ...]]) -> bool:
    if not words or words == title_words or words in names:
        return True
    return len(words) <= _CHROME_MAX_TOKENS and not _SENTENCE_END.search(paragraph)


def story_paragraphs(
    document: Document,
    title: str,
    boilerplate: Container[int] = frozenset(),
    names: Iterable[str] = (),
) -> list[int]:
    """The indices of the paragraphs that are the story itself.

    Dropped: credit lines and share widgets anywhere; paragraphs the publisher repeats
    on many items (`boilerplate`, keys from `paragraph_key`); and a run of chrome lines
    at the top or bottom — short lines without sentence punctuation, the item's own
    title, or the site's name (`names`), as a scraper mirror puts above the article.
    """
    title_words = tuple(tokens(title))
    name_words = {tuple(tokens(name)) for name in names}
    paragraphs, words = document.paragraphs, document.tokens
    kept = [
        i
        for i, p in enumerate(paragraphs)
        if document.keys[i] not in boilerplate and not _SHARE_WIDGET.match(p) and not is_credit(p)
    ]
    start, end = 0, len(kept)
    while start < end and _is_chrome(paragraphs[kept[start]], words[kept[start]], title_words, name_words):
        start += 1
    while end > start and _is_chrome(paragraphs[kept[end - 1]], words[kept[end - 1]], title_words, name_words):
        end -= 1
    story = kept[start:end]
    # A text made only of short lines is still text: better compared whole than not at all.
    return story or kept
