"""A large feed document cut into small ones, a few entries each, read as a stream.

feedparser holds what it parses four to five times over, and parses a document whole: a
60 MB feed of a thousand entries cost the ingest some 400 MB. A document over
`tracker.reader.parse.SLICE_FROM_BYTES` is read here instead with lxml's `iterparse`, one entry
at a time: each entry is moved out of the tree as soon as it ends and serialised into a
slice, a small document with the feed's own root (and channel) around its entries, that
feedparser then reads as it would the whole. What is left of the tree at the end, the
feed without its entries, is the head: the feed's title, link and TTL.

Only well-formed XML can be read so; anything lxml refuses (undeclared HTML entities,
a truncated document, a DTD) raises `NotSliceable`, and the caller parses the document
whole, as feedparser's lenient parser does every small one.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

from lxml import etree

_ATOM = "{http://www.w3.org/2005/Atom}"
_ATOM03 = "{http://purl.org/atom/ns#}"
_RSS1 = "{http://purl.org/rss/1.0/}"
# Entries by feed format: RSS 2.0 items (in <channel>), RSS 1.0 items (beside it), Atom entries.
ENTRY_TAGS = frozenset({"item", f"{_RSS1}item", f"{_ATOM}entry", f"{_ATOM03}entry"})
_SLOT = "{urn:x-tracker:slot}slot"
_SLOT_MARK = re.compile(rb"<[^<>]*slot[^<>]*/>")
_HEADER = b'<?xml version="1.0" encoding="utf-8"?>\n'


class NotSliceable(Exception):
    """The document is not XML that can be read one entry at a time."""


class FeedSlices:
    """Iterate over the slices (bytes) of a feed document; then `head` is the feed without
    its entries. Raises NotSliceable, from the iteration, when lxml cannot read it."""

    def __init__(self, body: bytes, slice_bytes: int) -> None:
        self._body = body
        self._slice_bytes = slice_bytes
        self.head: bytes = b""

    def __iter__(self) -> Iterator[bytes]:
        events = etree.iterparse(
            io.BytesIO(self._body), events=("start", "end"), resolve_entities=False, no_network=True,
            load_dtd=False, huge_tree=False, remove_comments=True, remove_pis=True,
        )
        root: etree._Element | None = None
        pending: list[bytes] = []
        size = 0
        frame: tuple[bytes, bytes] | None = None
        try:
            for event, element in events:
                if root is None:
                    root = element
                    continue
                if event != "end" or element.tag not in ENTRY_TAGS:
                    continue
                parent = element.getparent()
                if parent is None or (parent is not root and parent.getparent() is not root):
                    continue  # an "item" inside something else is not an entry of this feed
                if frame is None:
                    frame = _frame(root, parent)
                pending.append(etree.tostring(element, encoding="utf-8", with_tail=False))
                size += len(pending[-1])
                parent.remove(element)
                if size >= self._slice_bytes:
                    yield _HEADER + frame[0] + b"".join(pending) + frame[1]
                    pending, size = [], 0
        except etree.LxmlError as error:
            raise NotSliceable(str(error)) from None
        if root is None:
            raise NotSliceable("no document")
        if pending and frame is not None:
            yield _HEADER + frame[0] + b"".join(pending) + frame[1]
        self.head = _HEADER + etree.tostring(root, encoding="utf-8")


def _frame(root: etree._Element, parent: etree._Element) -> tuple[bytes, bytes]:
    """What goes before and after a slice's entries: the root's (and the entries' parent's)
    start and end tags, attributes and namespaces as in the document."""
    outer = etree.Element(root.tag, attrib=dict(root.attrib), nsmap=root.nsmap)
    holder = outer
    if parent is not root:
        holder = etree.SubElement(outer, parent.tag, attrib=dict(parent.attrib), nsmap=parent.nsmap)
    etree.SubElement(holder, _SLOT)
    whole = etree.tostring(outer, encoding="utf-8")
    found = _SLOT_MARK.search(whole)
    if found is None:
        raise NotSliceable("cannot frame the entries")
    return whole[: found.start()], whole[found.end() :]
