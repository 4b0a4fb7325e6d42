"""The faster whitespace merge given to inscriptis reads every text as inscriptis's own does."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

from inscriptis.model.canvas.block import Block
from inscriptis.model.canvas.prefix import Prefix

from tracker.detection import normalise
from tracker.model import ParsedEntry

# Every kind of whitespace str.isspace knows, some that it does not, entities and words.
_PIECES = [" ", "  ", "\t", "\n", "\r\n", "\x0b", "\x0c", "\x1c", "\x1f", "\x85", "\xa0", "\u2002", "\u2028", "\u3000",
           "\u200b", "\ufeff", "a", "word", "&amp;", "&nbsp;", "&#32;", "é", "字", "-", ".", ""]


def _random_text(rng: random.Random) -> str:
    return "".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 8)))


def test_the_merge_leaves_a_block_as_inscriptis_does_after_every_text() -> None:
    rng = random.Random(7)
    for _ in range(3000):
        ours, theirs = Block(0, Prefix()), Block(0, Prefix())
        for _ in range(rng.randint(1, 6)):
            text = _random_text(rng)
            normalise._merge_normal_text(ours, text)
            normalise.INSCRIPTIS_MERGE_NORMAL_TEXT(theirs, text)
            assert (ours._content, ours.idx, ours.collapsable_whitespace) == (theirs._content, theirs.idx, theirs.collapsable_whitespace)


@contextmanager
def _inscriptis_own() -> Iterator[None]:
    Block.merge_normal_text = normalise.INSCRIPTIS_MERGE_NORMAL_TEXT  # type: ignore[method-assign]
    try:
        yield
    finally:
        Block.merge_normal_text = normalise._merge_normal_text  # type: ignore[method-assign]


def test_html_reads_as_with_inscriptis_own_merge() -> None:
    rng = random.Random(11)
    tags = ["p", "div", "li", "span", "b", "pre", "blockquote", "h2", "td"]
    for _ in range(300):
        parts = []
        for _ in range(rng.randint(1, 10)):
            tag = rng.choice(tags)
            parts.append(f"<{tag}>{_random_text(rng)}{rng.choice(['', '<br>', '<ul><li>x</li></ul>'])}{_random_text(rng)}</{tag}>")
        markup = "<div>" + "".join(parts) + "</div>"
        entry = ParsedEntry(None, None, "t", None, None, markup, True, summary=markup)
        fast = normalise.to_document(entry)
        with _inscriptis_own():
            slow = normalise.to_document(entry)
        assert fast == slow
