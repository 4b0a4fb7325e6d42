"""OPML subscription lists: reading them (listparser) and writing OPML 2.0 (lxml).

A subscription is an outline with an `xmlUrl`. The folders it sits in (nested
outlines) and its `category` attribute become tags, each a path of folder names joined
by "/" ("News/Asia"). An outline may name its publisher in a `publisher` attribute
(not part of OPML 2.0, which allows any attribute; feed readers keep it or drop it).
Writing puts each feed in the folder of its first tag and lists any other tags in
`category`, so that reading the file back gives the same feeds, titles, tags and
publishers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime

import listparser
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


def _extra_attributes(body: bytes) -> dict[str, dict[str, str]]:
    """`publisher` and `htmlUrl` of every feed outline, by feed URL (listparser drops both).

    Attribute names are compared without case, as listparser does (readers write
    `xmlurl`, `xmlURL`, `xmlUrl`)."""
    parser = etree.XMLParser(recover=True, resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError:
        return {}
    if root is None:
        return {}
    found: dict[str, dict[str, str]] = {}
    for outline in root.iter("outline"):
        attrs = {str(k).lower(): str(v).strip() for k, v in outline.attrib.items()}
        url = attrs.get("xmlurl")
        if not url:
            continue
        extra = found.setdefault(url, {})
        for key in ("publisher", "htmlurl"):
            if attrs.get(key) and key not in extra:
                extra[key] = attrs[key]
    return found


def read_opml(body: bytes, source: str = "OPML") -> list[Subscription]:
    """The feeds of an OPML document (any version: 1.0, 1.1, 2.0 or none), in document order,
    each with its tags sorted (a feed listed in two folders is one feed with both tags).

    Raises InputError when the document is not an OPML subscription list."""
    # listparser fetches a URL when given a str: always hand it bytes.
    result = listparser.parse(bytes(body))
    if not str(result.get("version", "")).startswith("opml"):
        problem = result.get("bozo_exception")
        raise InputError(f"{source}: not an OPML subscription list" + (f" ({problem})" if problem else ""))
    extras = _extra_attributes(body)
    feeds = []
    for feed in result["feeds"]:
        url = str(feed["url"]).strip()
        extra = extras.get(url, {})
        tags = tuple(sorted({TAG_SEPARATOR.join(path) for path in feed.get("categories", []) if path}))
        feeds.append(
            Subscription(
                url=url, title=str(feed.get("title") or "").strip() or None, publisher=extra.get("publisher"),
                html_url=extra.get("htmlurl"), tags=tags,
            )
        )
    return feeds


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
        if sub.html_url:
            attrs["htmlUrl"] = sub.html_url
        if sub.publisher:
            attrs["publisher"] = sub.publisher
        if others:
            attrs["category"] = ",".join(TAG_SEPARATOR + tag for tag in others)
        etree.SubElement(folder(path), "outline", {k: _xml_safe(v) for k, v in attrs.items()})
    etree.indent(root, space="  ")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
