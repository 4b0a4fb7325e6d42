"""Links and SVG safe to open in a browser: the one home of both rules.

Feeds are untrusted, and a picture is opened in a browser, where an SVG is a document
that can run scripts. Two rules, used by `tracker graph` and the HTML report alike:

- `web_link`: only http(s) URLs with a host are links; quotes, angle brackets, spaces,
  backslashes, controls and non-ASCII are percent-encoded, so that a link can never end
  the attribute it is written into (`http://a.example/q" onfocus="…`), whatever writes it.
- `scrub_svg`: an SVG is parsed (lxml, no entities, no network) and anything active is
  removed — script, foreignObject and other embedding or animation elements, every `on*`
  attribute, every link that is not a web link (or a `#` reference inside the picture).
  It runs on what Graphviz or matplotlib produced, so a flaw in either (Graphviz 2.43
  writes `href` values unescaped) can never reach the browser.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

from lxml import etree

from tracker.errors import TrackerError

# Elements that run, embed or re-target anything; `animate`/`set` can rewrite an href.
ACTIVE_ELEMENTS = frozenset({"script", "foreignObject", "iframe", "object", "embed", "animate", "animateMotion",
                             "animateTransform", "set", "handler", "listener"})
# Everything RFC 3986 allows in a URL but the apostrophe; `%` stays so that encoded URLs are not encoded twice.
_URL_SAFE = "/:?#[]@!$&()*+,;=%~-._"
_WEB = re.compile(r"(?i)https?://")


class UnsafeSvgError(TrackerError):
    """A drawn picture is not well-formed SVG, so it cannot be checked and is not written."""


def web_link(url: str | None) -> str | None:
    """`url` as a link safe in any attribute, or None when it is not an http(s) URL with a host.

    Feeds carry `javascript:` and `data:` URLs, and URLs with quotes in them.
    """
    if not url or not _WEB.match(url.strip()):
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return quote(url, safe=_URL_SAFE)


def _allowed_href(value: str, links: bool) -> bool:
    if value.startswith("#"):
        return True  # a reference inside the picture (matplotlib's markers)
    return links and web_link(value) == value


def scrub_svg(svg: bytes, links: bool = True) -> bytes:
    """The SVG with anything active removed (see the module docstring); `links=False`
    removes every link out of the picture too. UnsafeSvgError when it does not parse."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(svg, parser)
    except etree.XMLSyntaxError as error:
        raise UnsafeSvgError(f"the drawn SVG is not well-formed ({error}); not written") from None
    for element in list(root.iter()):
        if not isinstance(element.tag, str):
            if isinstance(element, etree._ProcessingInstruction) and element.getparent() is not None:
                element.getparent().remove(element)
            continue
        if etree.QName(element).localname in ACTIVE_ELEMENTS:
            parent = element.getparent()
            if parent is not None:
                parent.remove(element)
            continue
        for name in list(element.attrib):
            local = etree.QName(name).localname.lower()
            if local.startswith("on") or (local == "href" and not _allowed_href(element.attrib[name], links)):
                del element.attrib[name]
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")
