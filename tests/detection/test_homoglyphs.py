"""Look-alike letters of other scripts are read as the Latin letters they imitate."""

from __future__ import annotations

from tracker.detection.normalise import read_differently, tokens, words
from tracker.detection.variants import comparable


def test_a_word_spelt_with_cyrillic_or_greek_look_alikes_reads_as_the_latin_word() -> None:
    # Cyrillic а, о, с, р, е; Greek capitals Η, Α, Τ, Ο; a Cyrillic capital Т.
    assert tokens("Kаbul pоliсe rероrt an аttack in Ηеrаt, ΑΤΟ sаid") == tokens("Kabul police report an attack in Herat, ATO said")
    assert tokens("Тhe vіllаge") == ["the", "village"]


def test_cyrillic_and_greek_text_still_reads_the_same_in_capitals_and_small_letters() -> None:
    assert tokens("МОСКВА ВЫБИРАЕТ МЭРА") == tokens("Москва выбирает мэра")
    assert tokens("ΑΘΗΝΑ") == tokens("αθηνα")
    # ... and its own letters that imitate nothing stay apart.
    assert tokens("мэр") != tokens("мер")


def test_ascii_and_scripts_without_look_alikes_are_read_as_before() -> None:
    for text in ("Plain ASCII text, 2025.", "東京で地震", "القدس", "नई दिल्ली"):
        assert tokens(text) == words(text)
        assert not read_differently(text, since=1)
    assert read_differently("Новости", since=1) and not read_differently("東京", since=1)
    assert comparable("kаbul") == "kabul"


def test_words_that_identify_an_entry_keep_their_letters() -> None:
    # Identity keys made of an entry's title are stored: they must not change under new text rules.
    assert words("Москва") == ["москва"]
