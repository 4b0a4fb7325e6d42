"""Detection stage: two texts written from one template are not copies of each other.

Weather bulletins, earnings lines, match results and stock closes are written from
templates: two items share most of their words and differ only in what makes each one
distinct — the town, the company, the figures, the score. Their shingles overlap enough
to pass verification, yet neither is a copy. A copy, an excerpt or a rewrite differs
from its source otherwise: lines added or cut around the text (chrome, credits, a
"Read the full story" link, a dropped paragraph) and, in a rewrite, common words swapped
for synonyms — it does not put another name or another number in the same place.

So the two texts are aligned word by word (difflib's algorithm, compiled by cydifflib: the
same alignment at a fifth of the cost, and it ran for every candidate pair of a templated
feed), and each substitution between them is judged:
a *slot* is a short substitution (a few words on each side) where both sides hold a
distinctive word — a number, a capitalised word inside a sentence, or a word of the
item's own title that the other title lacks. Two texts are templated, not copies, when
they differ in at least `MIN_SLOTS` slots and slots are most of their short
substitutions (`docs/how-it-decides.md` gives the measurement behind the constants).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import regex
from cydifflib import SequenceMatcher

from tracker.detection.variants import comparable

# Words with their inner dots, commas and apostrophes: "18.09", "1,200", "o'clock" are one word.
_WORD = regex.compile(r"[\p{L}\p{N}\p{M}_]+(?:[.,'’][\p{L}\p{N}\p{M}_]+)*")
_SENTENCE_END = frozenset(".!?:;…—–-|\n")
_OPENERS = frozenset("\"'“‘«([¿¡*•")
_DIGIT = regex.compile(r"\d")
# A slot is one template field filled in: a town, a company, a figure — a few words at most.
MAX_SLOT_WORDS = 4
# Differing in one slot is enough when the substitutions are all slots (a weather
# bulletin differs in its town alone); see `is_templated`.
MIN_SLOTS = 1
# A template fills a field every few words; a long copy with one figure changed (a
# correction, an update) is still a copy: at least one slot per this many words.
WORDS_PER_SLOT = 100
# Texts this long are aligned no further: the alignment is quadratic in the worst case
# and a template fills short texts (the longest measured template is under 200 words).
MAX_WORDS = 1500


@dataclass(frozen=True)
class Differences:
    """How two texts differ once aligned: slots filled differently, and other edits."""

    slots: int
    substitutions: int
    other_edits: int
    words: int


def _starts_sentence(text: str, at: int) -> bool:
    """Whether the word at `at` opens a sentence (its capital says nothing then)."""
    j = at - 1
    while j >= 0 and text[j] != "\n" and (text[j].isspace() or text[j] in _OPENERS):
        j -= 1
    return j < 0 or text[j] in _SENTENCE_END


@lru_cache(maxsize=4096)
def _words(text: str) -> tuple[tuple[str, ...], tuple[bool, ...]]:
    """A text's words, case-folded, and which are distinctive by themselves (a number, a name).

    Cached: detection compares one text with each of its candidates in turn.
    """
    text = unicodedata.normalize("NFKC", text)
    variants = not text.isascii()  # look-alike letters, accents, digits … are read alike, as in tokens
    words: list[str] = []
    marks: list[bool] = []
    for match in _WORD.finditer(text):
        word = match.group()
        words.append(comparable(word.casefold()) if variants else word.casefold())
        marks.append(bool(_DIGIT.search(word)) or (word[0].isupper() and not _starts_sentence(text, match.start())))
    if _capitalises_nouns(words):
        # German writes every noun with a capital: there a capital names nothing, and a
        # rewrite's nouns swapped for synonyms are no template's fields.
        marks = [bool(_DIGIT.search(word)) for word in words]
    return tuple(words), tuple(marks)


# German's commonest words: a text this full of them is German, whose nouns all take capitals.
_GERMAN = frozenset({"der", "die", "das", "und", "nicht", "mit", "den", "dem", "des", "ein", "eine", "einen", "ist",
                     "sich", "auch", "auf", "fur", "von", "zu", "im", "wurde", "werden", "sind", "nach", "bei", "aus"})
GERMAN_SHARE = 0.12


def _capitalises_nouns(words: list[str]) -> bool:
    return len(words) >= 20 and sum(w in _GERMAN for w in words) >= GERMAN_SHARE * len(words)


def _rebranded(words: tuple[str, ...], start: int, end: int, names: frozenset[str]) -> bool:
    """Whether words[start:end] are a publisher's name said once: a dateline's or a credit's
    (a paper named after its town that fills a template with the town says it throughout)."""
    return names.issuperset(words[start:end]) and words.count(words[start]) == 1


def name_words(names: Iterable[str]) -> frozenset[str]:
    """The words of a publisher's names, feed titles and hosts, as `differences` compares words."""
    words = {word for name in names for word in _words(name)[0]}
    return frozenset(words | {part for word in words for part in regex.split(r"[.,'’]", word) if part})


def _title_words(title: str) -> frozenset[str]:
    return frozenset(_words(title)[0])


def _slot_side(words: tuple[str, ...], marks: tuple[bool, ...], title_only: frozenset[str]) -> tuple[bool, bool]:
    """Whether one side of a substitution holds a distinctive word, and whether it is mostly title words."""
    titled = sum(w in title_only for w in words)
    return titled > 0 or any(marks), 2 * titled >= len(words)


def differences(
    text_a: str, text_b: str, title_a: str = "", title_b: str = "",
    names_a: frozenset[str] = frozenset(), names_b: frozenset[str] = frozenset(),
) -> Differences | None:
    """The aligned differences of two texts, or None when either is too long to align.

    `names_a`, `names_b`: the words each item's publisher is called by (`name_words`). One
    publisher's name put in the other's place ("KABUL (Khaama Press)" → "KABUL (ru24)") is
    a copy rebranded, not a template filled in: an edit, not a slot.
    """
    (a, marks_a), (b, marks_b) = _words(text_a), _words(text_b)
    if len(a) > MAX_WORDS or len(b) > MAX_WORDS:
        return None
    titles_a, titles_b = _title_words(title_a), _title_words(title_b)
    only_a, only_b = titles_a - titles_b, titles_b - titles_a
    slots = substitutions = other = 0
    for op, a0, a1, b0, b1 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            continue
        if op != "replace":
            other += 1
            continue
        named_a, titled_a = _slot_side(a[a0:a1], marks_a[a0:a1], only_a)
        named_b, titled_b = _slot_side(b[b0:b1], marks_b[b0:b1], only_b)
        if titled_a and titled_b:
            substitutions += 1  # a run of each item's own title words: what makes each one distinct
            slots += 1
        elif _rebranded(a, a0, a1, names_a) and _rebranded(b, b0, b1, names_b):
            other += 1
        elif a1 - a0 <= MAX_SLOT_WORDS and b1 - b0 <= MAX_SLOT_WORDS:
            substitutions += 1
            slots += named_a and named_b
        else:
            other += 1
    return Differences(slots, substitutions, other, max(len(a), len(b)))


def is_templated(diff: Differences | None) -> bool:
    """True when two texts are one template filled in for two different subjects."""
    if diff is None:
        return False
    return (
        diff.slots >= MIN_SLOTS
        and 2 * diff.slots > diff.substitutions
        and diff.slots * WORDS_PER_SLOT >= diff.words
    )
