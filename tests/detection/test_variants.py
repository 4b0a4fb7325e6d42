"""Text compared for copying reads alike what a copy changes without changing a word."""

from __future__ import annotations

import pytest

from tracker.detection.normalise import read_differently, tokens, words


@pytest.mark.parametrize(("copy", "source"), [
    ("Perú y México firmaron el acuerdo", "Peru y Mexico firmaron el acuerdo"),  # accents stripped by a scraper
    ("ΑΘΗΝΑ ΣΗΜΕΡΑ", "Αθήνα σήμερα"),  # Greek capitals lose their tonos
    ("Ещё одна новость", "Еще одна новость"),  # ё written е
    ("٢٠٢٥ قتل ١٢ شخصا", "2025 قتل 12 شخصا"),  # Arabic-Indic digits
    ("۱۴۰۳ خورشیدی", "1403 خورشیدی"),  # Persian digits
    ("वर्ष २०२५", "वर्ष 2025"),  # Devanagari digits
    ("كتاب ياسين", "کتاب یاسین"),  # Arabic kaf and yeh, Persian keheh and yeh
    ("أحمد إلى آخر", "احمد الى اخر"),  # alef with hamza or madda, alef maksura
    ("مدرسة", "مدرسه"),  # teh marbuta, heh
    ("no\u2061thing\ufe0f hi\U000e0020dden\u034f", "nothing hidden"),  # invisible operator, variation selector, tag, CGJ
])
def test_a_copy_that_changes_no_word_reads_the_same(copy: str, source: str) -> None:
    assert tokens(copy) == tokens(source)
    assert read_differently(copy, since=1)
    assert not read_differently(copy, since=2)  # no wrong charset: text rules 2 read it so


def test_different_words_stay_different() -> None:
    assert tokens("Москва") != tokens("Моска")
    assert tokens("12 people") != tokens("15 people")
    assert tokens("كتاب") != tokens("كتب")


def test_identity_keeps_what_was_written() -> None:
    assert words("Perú ١٢") == ["perú", "١٢"]

