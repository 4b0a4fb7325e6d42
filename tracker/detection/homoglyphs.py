"""Letters of other scripts that imitate Latin ones, read as the Latin letters they imitate.

A mirror that wants its copies not to be found swaps some Latin letters of the article for
Cyrillic or Greek ones that look the same ("Kаbul" with a Cyrillic а): every word it touches
becomes another word, and the copy shares no shingle with its source. Unicode's table of
confusable characters (UTS #39, as the `confusable_homoglyphs` package ships it) says which
letters look like which Latin letter; text compared for copying reads each of them as that
Latin letter, in every text alike, so Cyrillic and Greek texts still match each other.
"""

from __future__ import annotations

import string
from functools import cache

from confusable_homoglyphs.utils import load

# Alphabets written with spaces whose letters imitate Latin ones; the rest of the table
# (mathematical and fullwidth letters) is already Latin after NFKC.
_SCRIPTS = ("LATIN ", "CYRILLIC ", "GREEK ", "ARMENIAN ", "CHEROKEE ", "COPTIC ", "LISU ")


@cache
def latin_lookalikes() -> dict[int, str]:
    """Each look-alike letter, as case-folded text holds it, → the ASCII letter it imitates.

    A capital that imitates a Latin capital (Cyrillic Н for H) gives its small letter (н)
    that Latin letter too, unless the small letter imitates another: case-folded text holds
    only the small one, and a word must read the same in capitals. (So Greek Ν reads as v,
    as its small letter ν does, not as N.)
    """
    data = load("confusables.json")
    table: dict[int, str] = {}
    capitals: dict[int, str] = {}
    for letter in string.ascii_letters:
        for entry in data.get(letter, ()):
            char, name = entry["c"], entry["n"]
            if len(char) != 1 or char.isascii() or not name.startswith(_SCRIPTS):
                continue
            folded = char.casefold()
            if len(folded) != 1 or folded.isascii():
                continue
            (table if folded == char else capitals).setdefault(ord(folded), letter.lower())
    for code, letter in capitals.items():
        table.setdefault(code, letter)
    return table
