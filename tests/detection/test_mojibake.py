"""Text a wrong charset decoded is compared as the text it was."""

from __future__ import annotations

import pytest

from tracker.detection.mojibake import repaired
from tracker.detection.normalise import read_differently, tokens


def wrongly_decoded(text: str) -> str:
    """Text as a scraper republishes it after decoding its UTF-8 as Windows-1252 (bytes
    that code page lacks read as Latin-1)."""
    return "".join(chr(b) if b in (0x81, 0x8D, 0x8F, 0x90, 0x9D) else bytes([b]).decode("cp1252") for b in text.encode())


@pytest.mark.parametrize("source", [
    "Revenues slipped from £3.24bn to £2.89bn, the group’s “worst” year",
    "Мэрия Новосибирска объявила о ремонте",
    "Perú y México firmaron el acuerdo",
    "المصدر: وكالة الأنباء",
    "東京で地震が発生した",
])
def test_text_a_wrong_charset_decoded_reads_as_it_was(source: str) -> None:
    copy = wrongly_decoded(source)
    assert copy != source and repaired(copy) == source
    assert tokens(copy) == tokens(source)
    assert read_differently(copy, since=2) and not read_differently(source, since=2)


@pytest.mark.parametrize("text", [
    "café «Über» naïve — ok", "Zürich, Genève, Øresund", "Ångström · ±5 °C", "À bientôt, Ève", "plain ASCII text",
])
def test_honest_text_is_left_as_it_is(text: str) -> None:
    assert repaired(text) == text
    assert not read_differently(text, since=2)
