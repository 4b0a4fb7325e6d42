"""Where a feed document's entries lie: their byte spans, and what around them can change
how they parse.

A polled feed repeats most of its entries from one capture to the next. To parse only what
is new (tracker.reader.parse with tracker.reader.entrymemory), a document is cut here into
its head and its entries, each entry an exact byte span of the document, cheaply: expat
(the parser feedparser's strict mode runs on, so the two agree on what is well-formed)
reads it once, with no tree built and nothing serialised.

An entry's parse must depend on its own bytes and on the document's `context` alone:
the prolog, the root's (and the entries' parent's) start tags, the namespace declarations
outside entries, the content type. Whatever could carry feedparser's state from one part of
the document into an entry makes the document `None` here (the caller then parses it
whole): bytes that are not UTF-8 (read here as UTF-8 whatever the document declares:
feedparser decodes the whole and the new entries alike), a DOCTYPE, an `xml:base` (or plain `base`) attribute
below the context (feedparser lets a base leak into the following elements), an `item` or
`entry` that is not an entry of this feed, entries under two parents, an empty entry, a
namespace declared inside an entry that is neither the context's nor a known one by its
own prefix, a title in the head after the first entry (feedparser keeps or drops it by
the title before it). Head elements that leave feedparser's `hasContent` set (a
channel-level `content:encoded`, a summary) make the entry after them `sensitive`: it is
always parsed, never remembered.
"""

from __future__ import annotations

import hashlib
import pyexpat
import re
from collections.abc import Mapping
from dataclasses import dataclass

_ATOM = "http://www.w3.org/2005/Atom"
_ATOM03 = "http://purl.org/atom/ns#"
_RSS1 = "http://purl.org/rss/1.0/"
_RSS090 = "http://my.netscape.com/rdf/simple/0.9/"
# Entries by feed format, as expat names them ("namespace local"): RSS 2.0 items (in
# <channel>), RSS 1.0 and 0.90 items (beside it), Atom 1.0 and 0.3 entries.
ENTRY_NAMES = frozenset({"item", f"{_RSS1} item", f"{_RSS090} item", f"{_ATOM} entry", f"{_ATOM03} entry"})
# Namespaces whose declaration sets feedparser's idea of the feed's version.
_VERSION_URIS = frozenset({_RSS090, _RSS1, _ATOM.lower()})
# Head elements after which feedparser's `hasContent` stays set into the next entry (and
# after them, a description too: the feed then has a summary, and a description after a
# summary is read as content).
_LEAKING = frozenset({"content", "encoded", "fullitem", "summary", "body"})
_BASE = re.compile(rb"base\s*=")


@dataclass(frozen=True)
class Layout:
    """A document's entries as byte spans, in document order, and a digest of what around
    them can change how they parse."""

    context: bytes
    spans: tuple[tuple[int, int], ...]
    sensitive: frozenset[int]  # the entries (their index) whose parse depends on the head before them


class _Refused(Exception):
    """The document cannot be cut into independent entries."""


class _Scan:
    """expat's handlers: the depth, the entries' spans, the context's end."""

    def __init__(self, body: bytes, known: Mapping[str, str]) -> None:
        self.body = body
        self.known = known
        self.parser = pyexpat.ParserCreate("utf-8", " ")
        self.depth = 0
        self.entry_depth = -1  # the depth inside the open entry, -1 outside entries
        self.start = 0
        self.spans: list[tuple[int, int]] = []
        self.root_first: int | None = None  # where the root's first child starts
        self.outer_first: int | None = None  # where the current child of the root's first child starts
        self.outer_count = 0
        self.parent: tuple[int, int] | None = None
        self.context_end = 0
        self.leaking = False  # a head element since the last entry left `hasContent` set
        self.summarised = False  # the head has had a summary: a description then leaks too
        self.sensitive: set[int] = set()
        self.pending: list[tuple[str | None, str]] = []
        self.declared: list[tuple[str | None, str]] = []

    def run(self) -> None:
        parser = self.parser
        parser.StartElementHandler = self.started
        parser.EndElementHandler = self.ended
        parser.StartNamespaceDeclHandler = self.declared_namespace
        parser.StartDoctypeDeclHandler = self.refuse
        parser.Parse(self.body, True)

    def refuse(self, *_args: object) -> None:
        raise _Refused("a DOCTYPE")

    def declared_namespace(self, prefix: str | None, uri: str | None) -> None:
        if uri:  # an undeclaration is nothing to feedparser
            self.pending.append((prefix, uri))

    def started(self, name: str, _attrs: object) -> None:
        depth = self.depth
        self.depth = depth + 1
        if self.entry_depth >= 0:
            if self.pending:
                self._inside_entry(self.pending)
            if name.endswith(("item", "entry")) and name.rpartition(" ")[2] in ("item", "entry"):
                raise _Refused("an entry inside an entry")
            return
        where = self.parser.CurrentByteIndex
        if depth == 1:
            self.outer_count += 1
            self.outer_first = None
            if self.root_first is None:
                self.root_first = where
        elif depth == 2 and self.outer_first is None:
            self.outer_first = where
        if name in ENTRY_NAMES and depth in (1, 2):
            self._entry_started(depth, where)
            return
        local = name.rpartition(" ")[2]
        if local in ("item", "entry"):
            raise _Refused(f"an {local} that is no entry of this feed")
        if local == "title" and self.parent is not None:
            # feedparser takes or ignores a title depending on the last title before it.
            raise _Refused("a title in the head after the first entry")
        self.summarised = self.summarised or local in _LEAKING
        self.leaking = self.leaking or local in _LEAKING or (local == "description" and self.summarised)
        self.declared.extend(self.pending)
        self.pending.clear()

    def _entry_started(self, depth: int, where: int) -> None:
        parent = (depth, self.outer_count if depth == 2 else 0)
        if self.parent is None:
            self.parent = parent
            self.context_end = self.root_first if depth == 1 else self.outer_first  # type: ignore[assignment]
        elif parent != self.parent:
            raise _Refused("entries under two parents")
        if self.leaking:  # feedparser's `hasContent` is reset when this entry ends
            self.sensitive.add(len(self.spans))
            self.leaking = False
        if self.pending:
            self._inside_entry(self.pending)
        self.entry_depth = depth + 1
        self.start = where

    def _inside_entry(self, declarations: list[tuple[str | None, str]]) -> None:
        """A namespace declared inside an entry stays declared for feedparser after it: only
        the context's own declarations, or a known namespace by its own prefix, are harmless."""
        for prefix, uri in declarations:
            lower = uri.lower()
            known = lower in self.known and lower not in _VERSION_URIS and prefix in (None, self.known[lower])
            if not known and (prefix, uri) not in self.declared:
                raise _Refused(f"namespace {uri} declared inside an entry")
        declarations.clear()

    def ended(self, _name: str) -> None:
        self.depth -= 1
        if self.depth + 1 != self.entry_depth:
            return
        where = self.parser.CurrentByteIndex
        if where <= self.start:
            raise _Refused("an empty entry element")
        self.spans.append((self.start, self.body.index(b">", where) + 1))
        self.entry_depth = -1


def _base_attribute(body: bytes, start: int) -> bool:
    """Whether an attribute that feedparser takes for a base URI (`xml:base`, or any
    `base`, its name lower-cased) may stand in `body` from `start`: a false alarm costs a
    whole parse, a miss a wrong link."""
    lowered = body.lower()
    return any(lowered[found.start() - 1] in b" \t\r\n:" for found in _BASE.finditer(lowered, start))


def layout(body: bytes, content_type: str | None, known: Mapping[str, str]) -> Layout | None:
    """The entries' spans of a feed document, well-formed as UTF-8, and its context's digest;
    None when its entries cannot be parsed apart from one another (see the module's doc).
    `known` maps the namespaces feedparser knows (lower case) to its prefix for each."""
    scan = _Scan(body, known)
    try:
        scan.run()
    except (_Refused, pyexpat.ExpatError, ValueError):
        return None
    if not scan.spans or _base_attribute(body, scan.context_end):
        return None
    digest = hashlib.blake2b(digest_size=16)
    digest.update(repr((content_type, scan.declared)).encode())
    digest.update(body[: scan.context_end])
    return Layout(digest.digest(), tuple(scan.spans), frozenset(scan.sensitive))
