"""Strings and dates read from feeds made storable: shared by every feed format's parser."""

from __future__ import annotations

import html
import re

# A tag holds no "<": a run of "<" without ">" is then read once, not once from each of its
# "<" to the end (10,000 of them in a title cost 0.1 s, a 2 MB feed of such titles 25 s).
_TAG = re.compile(r"<[^<>]+>")
# What no database column should hold: NUL (PostgreSQL refuses it) and the other C0
# controls but tab and newlines. Lone surrogates (from "&#xD800;") cannot be encoded at all.
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# What one entry may bring out of the parse stage, in characters: its body (content or
# summary) and each one-line field (title, link, GUID, author, names). See tracker.reader.parse.
ENTRY_MARKUP_MAX = 1_000_000
FIELD_MAX = 10_000
# Attributes one element of a document (a feed, an article page) may have. feedparser's
# strict parser looks each attribute up by a walk over all of them, and libxml2's HTML parser
# checks each against all before it, so an element with n costs n² (200,000 attributes in a
# 2 MB feed: half an hour of CPU); no real document has more than a few dozen.
ATTRIBUTES_MAX = 1_000
# A start tag long enough to hold that many (an attribute is at least ` a`); its quoted
# values, whose words are no attributes; an attribute's name in what is left.
_LONG_TAG = re.compile(rb"<[A-Za-z_][^<>]{%d,}>" % (2 * ATTRIBUTES_MAX))
_QUOTED = re.compile(rb"\"[^\"]*\"|'[^']*'")
_NAME = re.compile(rb"""\s[^\s=<>/"']+""")


def clean(value: str) -> str:
    """A string from a feed made storable anywhere: no NUL or C0 controls, valid Unicode."""
    value = _CONTROLS.sub("", value)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value


def clean_opt(value: object) -> str | None:
    """`clean` for an optional value: None for a missing or blank one."""
    if not value:
        return None
    return clean(str(value)[:FIELD_MAX]).strip() or None


def text_value(value: str | None, is_html: bool) -> str:
    """A one-line plain text (a title): tags dropped from HTML, whitespace collapsed."""
    if not value:
        return ""
    value = clean(value[:FIELD_MAX])
    if is_html:
        value = html.unescape(_TAG.sub(" ", value))
    return " ".join(value.split())


def crowded_element(document: bytes) -> int | None:
    """The number of attributes of the first element of `document` holding more than
    ATTRIBUTES_MAX, or None. Linear in the document's length (tens of milliseconds for 10 MB)."""
    for tag in _LONG_TAG.finditer(document):
        count = len(_NAME.findall(_QUOTED.sub(b"", tag.group())))
        if count > ATTRIBUTES_MAX:
            return count
    return None
