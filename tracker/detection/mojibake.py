"""Text decoded with the wrong charset, read as the text it was: "Â£3bn" as "£3bn".

A scraper that decodes a UTF-8 page as Windows-1252 (or Latin-1) and republishes it in
UTF-8 turns every non-ASCII character into two or three others: "£" becomes "Â£", "’"
becomes "â€™", a Cyrillic word becomes "Ð\x9fÑ\x80Ð¸…". Each word it touches is another
word, so a verbatim copy shares fewer shingles with its source than an honest rewrite.
`ftfy` (made for exactly this) undoes such decoding where it is plausible; text compared
for copying is read through it, in every text alike.
"""

from __future__ import annotations

import re

# A UTF-8 lead byte read as Windows-1252 or Latin-1 (Â … ô) followed by a continuation byte
# read so (C1 controls, ¡ … ¿, or Windows-1252's letters and punctuation at 0x80–0x9F): the
# mark of such decoding. Text without one is left alone at the cost of one search.
_MARK = re.compile("[\u00c2-\u00f4][\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc"
                   "\u2013\u2014\u2018-\u201a\u201c-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122]")


def repaired(text: str) -> str:
    """The text as it was before a wrong charset decoded it (unchanged when nothing says so)."""
    if text.isascii() or not _MARK.search(text):
        return text
    # Imported on first need: its tables cost every process a few MB, and most texts never need it.
    from ftfy import fix_encoding

    return fix_encoding(text)
