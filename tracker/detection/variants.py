"""Text compared for copying, with the differences a copy makes without changing a word.

A copy is the same text when it differs from its source only in how its letters are
written, so text compared for copying (`comparable`) reads them alike, in every text alike:
- letters of other scripts that imitate Latin ones (`tracker.detection.homoglyphs`);
- accents of Latin and Greek letters (a scraper's "Peru" for "Perú", a Greek headline in
  capitals without its tonos), and Cyrillic ё as е, as Russian is often written;
- the Arabic script's letter forms that writers and keyboards swap: Arabic and Persian yeh
  and kaf, alef with or without hamza or madda, teh marbuta and heh, alef maksura and yeh
  (the normalisation search engines apply to Arabic and Persian);
- digits of every script as ASCII digits (Arabic-Indic, Persian, Devanagari …);
- characters that render as nothing inside words: format characters (tags, invisible
  operators; not the zero-width joiner and non-joiner, which end a token as a space does),
  the combining grapheme joiner, variation selectors, Hangul fillers.
"""

from __future__ import annotations

import unicodedata
from functools import cache

import regex

from tracker.detection.homoglyphs import latin_lookalikes

# Left out of compared text: they change how a word is drawn, never which word it is.
# ZWNJ and ZWJ are kept (they end a token, as a space does): a Persian copy writes a space
# where the original has a ZWNJ as often as it drops it, and they read alike only this way.
_IGNORABLE = regex.compile(r"[[\p{Cf}--[\u200C\u200D]]\u034F\uFE00-\uFE0F\U000E0100-\U000E01EF\u115F\u1160\u3164\uFFA0]", regex.V1)
_ARABIC_SCRIPT = {
    "\u064A": "\u06CC", "\u0649": "\u06CC", "\u0626": "\u06CC",  # yeh, alef maksura, yeh with hamza → Persian yeh
    "\u0643": "\u06A9",  # Arabic kaf → keheh
    "\u0623": "\u0627", "\u0625": "\u0627", "\u0622": "\u0627", "\u0671": "\u0627",  # alef with hamza, madda, wasla → alef
    "\u0624": "\u0648",  # waw with hamza → waw
    "\u0629": "\u0647", "\u06C0": "\u0647", "\u06C1": "\u0647",  # teh marbuta, heh with yeh, heh goal → heh
}
# Letters whose accents are dropped: Latin (Latin-1 to Extended-B, Extended Additional) and Greek.
_ACCENTED = (range(0x00C0, 0x0250), range(0x1E00, 0x1F00), range(0x0370, 0x0400), range(0x1F00, 0x2000))


def _unaccented(char: str) -> str:
    base = "".join(c for c in unicodedata.normalize("NFD", char) if not unicodedata.combining(c))
    return base if len(base) == 1 else char


@cache
def _translation() -> str:
    """Each code point → the letter it is read as, as a string indexed by code point (`str.translate`
    reads it a third faster than a dict; code points past its end are read as they are)."""
    table: dict[int, str] = {code: _unaccented(chr(code)) for span in _ACCENTED for code in span}
    table[ord("ё")] = "е"
    table.update({ord(a): b for a, b in _ARABIC_SCRIPT.items()})
    for code in range(0x80, 0x10000):
        char = chr(code)
        if unicodedata.category(char) == "Nd":
            table[code] = str(unicodedata.digit(char))
    lookalikes = latin_lookalikes()
    for code in set(table) | set(lookalikes):
        read = table.get(code, chr(code))  # one letter each: an accent dropped, a digit, a form
        table[code] = lookalikes.get(ord(read), read)
    return "".join(table.get(code, chr(code)) for code in range(max(table) + 1))


def comparable(folded: str) -> str:
    """Case-folded (NFKC) text as it is compared for copying: see the module's docstring."""
    return _IGNORABLE.sub("", folded).translate(_translation())
