"""OPML subscription lists: reading them and writing OPML 2.0 (lxml both ways).

A subscription is an outline with an `xmlUrl`. The folders it sits in (nested
outlines) and its `category` attribute become tags, each a path of folder names joined
by "/" ("News/Asia"). An outline may name its publisher in a `publisher` attribute
(not part of OPML 2.0, which allows any attribute; feed readers keep it or drop it).
Writing puts each feed in the folder of its first tag and lists any other tags in
`category`, so that reading the file back gives the same feeds, titles, tags and
publishers.
"""

from __future__ import annotations

import html.entities
import io
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime

from lxml import etree

from tracker.errors import InputError

TAG_SEPARATOR = "/"
# Characters XML 1.0 cannot carry at all (feed titles do contain them); lxml refuses them.
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_safe(value: str) -> str:
    return _NOT_XML.sub("", value)


@dataclass(frozen=True)
class Subscription:
    """One feed of a subscription list."""

    url: str
    title: str | None = None
    publisher: str | None = None
    html_url: str | None = None
    tags: tuple[str, ...] = ()


@dataclass
class _Found:
    """A feed as the outlines naming its URL describe it (the first one wins, tags add up)."""

    title: str | None
    publisher: str | None = None
    html_url: str | None = None
    paths: list[tuple[str, ...]] = field(default_factory=list)


def _outline(attrs: dict[str, str], hierarchy: list[str], found: dict[str, _Found]) -> str:
    """Take in one outline; return what it adds to the folder path of the outlines inside it.

    A feed is an outline with `xmlUrl` (but not `type="source"`, a nested list); an
    outline with neither that nor `type="link"`/`"include"` but with a name is a folder.
    The rules are listparser's, whose results this reader reproduces in one pass (but for
    the empty folder names that outlines which are no folders leave in a path)."""
    title = attrs.get("text", "").strip() or attrs.get("title", "").strip()
    kind = attrs.get("type", "").strip().lower()
    if "xmlurl" not in attrs:
        return title if kind not in ("link", "include") else ""
    url = attrs["xmlurl"].strip()
    if not url or kind == "source":
        return ""
    feed = found.get(url)
    if feed is None:
        feed = found[url] = _Found(title or None)
    for key in ("publisher", "htmlurl"):
        value = attrs.get(key, "").strip()
        if value and getattr(feed, _EXTRA[key]) is None:
            setattr(feed, _EXTRA[key], value)
    for written in attrs.get("category", "").split(","):
        path = tuple(part.strip() for part in written.split(TAG_SEPARATOR) if part.strip())
        if path and path not in feed.paths:
            feed.paths.append(path)
    if hierarchy and tuple(hierarchy) not in feed.paths:
        feed.paths.append(tuple(hierarchy))
    return ""


_EXTRA = {"publisher": "publisher", "htmlurl": "html_url"}
_CHAR_REF = re.compile(rb"&#(x[0-9a-fA-F]{1,8}|[0-9]{1,10});")
# Quirks of real exports that lose nothing when mended, unlike damage: HTML's named
# entities (&eacute;, &nbsp;), a bare "&" (in a title, or a URL's query), blanks before the
# XML declaration, bytes after the root's end.
_NAMED = re.compile(rb"&([A-Za-z][A-Za-z0-9]{1,31});")
_BARE_AMP = re.compile(rb"&(?!(?:[A-Za-z][A-Za-z0-9]{0,31}|#[0-9]{1,10}|#x[0-9A-Fa-f]{1,8});)")
_END = re.compile(rb"</opml\s*>", re.IGNORECASE)


def _mended(body: bytes) -> bytes:
    """The document with the quirks above mended (an 8-bit document; UTF-16's bytes are left as they are)."""
    if body[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in body[:4]:
        return body
    bom = b"\xef\xbb\xbf" if body.startswith(b"\xef\xbb\xbf") else b""
    body = bom + body[len(bom):].lstrip(b" \t\r\n")
    ends = list(_END.finditer(body))
    if ends:
        body = body[: ends[-1].end()]
    body = _NAMED.sub(_html_entity, body)
    return _CHAR_REF.sub(_carried, _BARE_AMP.sub(b"&amp;", body))


def _html_entity(ref: re.Match[bytes]) -> bytes:
    name = ref.group(1).decode()
    code = html.entities.name2codepoint.get(name)
    return ref.group(0) if code is None or name in ("amp", "lt", "gt", "quot", "apos") else f"&#{code};".encode()


def _carried(ref: re.Match[bytes]) -> bytes:
    """A character reference, or nothing for one to a character XML cannot carry (`&#x1b;`:
    dropped as `write_opml` drops them, not a reason to refuse the list)."""
    digits = ref.group(1).decode()
    code = int(digits[1:], 16) if digits[0] == "x" else int(digits)
    return ref.group(0) if code <= 0x10FFFF and not _NOT_XML.match(chr(code)) else b""


def _in_words(error: etree.XMLSyntaxError) -> str:
    """The parser's complaint, with its own remedy (an option of libxml2) left out."""
    line, column = error.position if error.position else (0, 0)
    said = error.msg.split(", line ")[0]
    if "Excessive depth" in said:
        said = "outlines nested deeper than 255"
    elif "amplification" in said:
        said = "entities that expand too far (an entity bomb)"
    return f"{said}, line {line}, column {column}"


def read_opml(body: bytes, source: str = "OPML") -> list[Subscription]:
    """The feeds of an OPML document (any version: 1.0, 1.1, 2.0 or none), in document order,
    each with its tags sorted (a feed listed in two folders is one feed with both tags).

    One streaming pass of lxml: each outline is dropped once read, so a list of 100,000
    feeds costs its result, not a tree of it. Element and attribute names are read
    without case, as feed readers write them (`xmlurl`, `xmlURL`, `xmlUrl`); entities are
    not expanded and nothing is fetched. Raises InputError when the document is not an
    OPML subscription list, or not whole (the quirks of real exports mended first,
    `_mended`): a parser that recovers reads a file cut short or outlines nested past its
    depth as fewer feeds without a word, and a reload would stop polling the feeds it lost."""
    found: dict[str, _Found] = {}
    hierarchy: list[str] = []
    root: str | None = None
    events = etree.iterparse(
        io.BytesIO(_mended(body)), events=("start", "end"), recover=False, resolve_entities=False, no_network=True, huge_tree=False,
    )
    try:
        for event, element in events:
            tag = element.tag.lower() if isinstance(element.tag, str) else ""
            if root is None:
                root = tag
                if root != "opml":
                    break
            if tag != "outline":
                continue
            if event == "start":
                attrs = {str(k).lower(): str(v) for k, v in element.attrib.items()}
                hierarchy.append(_outline(attrs, hierarchy, found))
            else:
                hierarchy.pop()
                element.clear()
                parent = element.getparent()
                while parent is not None and element.getprevious() is not None:
                    del parent[0]
    except etree.XMLSyntaxError as error:
        if root is None or root != "opml":
            raise InputError(f"{source}: not an OPML subscription list ({error})") from None
        raise InputError(f"{source}: not a well-formed OPML document: {_in_words(error)}") from None
    if root != "opml":
        raise InputError(f"{source}: not an OPML subscription list")
    return [
        Subscription(url=url, title=feed.title, publisher=feed.publisher, html_url=feed.html_url,
                     tags=tuple(sorted({TAG_SEPARATOR.join(p for p in path if p) for path in feed.paths if any(path)})))
        for url, feed in found.items()
    ]


def write_opml(subscriptions: list[Subscription], title: str = "tracker subscriptions", now: datetime | None = None) -> bytes:
    """An OPML 2.0 document of `subscriptions`, folders nested by each feed's first tag."""
    root = etree.Element("opml", version="2.0")
    head = etree.SubElement(root, "head")
    etree.SubElement(head, "title").text = _xml_safe(title)
    if now is not None:
        etree.SubElement(head, "dateCreated").text = format_datetime(now.replace(tzinfo=UTC))
    body = etree.SubElement(root, "body")
    folders: dict[tuple[str, ...], etree._Element] = {(): body}

    def folder(path: tuple[str, ...]) -> etree._Element:
        if path not in folders:
            parent = folder(path[:-1])
            name = _xml_safe(path[-1])
            folders[path] = etree.SubElement(parent, "outline", text=name, title=name)
        return folders[path]

    for sub in subscriptions:
        first, *others = sub.tags or ("",)
        path = tuple(part for part in first.split(TAG_SEPARATOR) if part)
        name = sub.title or sub.publisher or sub.url
        attrs = {"type": "rss", "text": name, "title": name, "xmlUrl": sub.url}
        # A site link is what a feed says of itself (`<link>javascript:…</link>`): only a web
        # link is handed on to the feed reader that imports the list and may show it as one.
        if sub.html_url and re.match(r"(?i)https?://[^/?#\s]", sub.html_url):
            attrs["htmlUrl"] = sub.html_url
        if sub.publisher:
            attrs["publisher"] = sub.publisher
        if others:
            attrs["category"] = ",".join(TAG_SEPARATOR + tag for tag in others)
        etree.SubElement(folder(path), "outline", {k: _xml_safe(v) for k, v in attrs.items()})
    etree.indent(root, space="  ")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
