"""Pictures of a story's chain: Graphviz DOT, SVG and PNG, and Mermaid text.

The graphviz package lives here. A node is an item, labelled with its publisher; an
edge goes from a copy to its parent, labelled with the relation, how close the copy is,
and how long after its parent it appeared. The original is drawn bold on a filled
background; an item whose claimed date was disproved gets a dashed red outline and a
note. Every string from a feed is escaped before it reaches DOT or Mermaid: feeds are
untrusted input, and a title such as `<b>` must not become markup in either language.
Control and bidi characters are shown escaped (tracker.terminal), links are web links
percent-encoded (tracker.answers.websafe), and the SVG Graphviz draws is checked and scrubbed
before it is written: opening a picture in a browser never runs anything.
"""

from __future__ import annotations

import html
import shutil
import subprocess
from dataclasses import dataclass

import graphviz
from sqlalchemy.orm import Session, sessionmaker

from tracker.answers.output import PICTURE_FORMATS, delay
from tracker.answers.websafe import UnsafeSvgError, scrub_svg, web_link
from tracker.errors import TrackerError
from tracker.store.pictures import Story, StoryItem, story_of
from tracker.terminal import inline
from tracker.timefmt import when

INSTALL_HINT = "install Graphviz (Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz)"

_ORIGINAL_FILL = "#fde9b6"
_FOCUS_FILL = "#dbeafe"
_DISPROVED = "#b91c1c"


class GraphvizMissing(TrackerError):
    """The `dot` program is needed to draw SVG or PNG and is not installed."""


@dataclass(frozen=True)
class Picture:
    """A drawn story: its bytes and the format they are in (which may be a fallback)."""

    data: bytes
    format: str


def dot_available() -> bool:
    """True when Graphviz's `dot` program is on the PATH."""
    return shutil.which("dot") is not None


def measure(item: StoryItem) -> str:
    """How close a copy is to its parent: containment for excerpts, resemblance otherwise."""
    if item.relation == "excerpt" and item.containment is not None:
        return f"{item.containment:.0%} contained"
    if item.similarity is not None:
        return f"similarity {item.similarity:.2f}"
    return ""


def edge_label(item: StoryItem) -> str:
    """The label of a copy → parent edge: relation, closeness, delay."""
    return ", ".join(part for part in (item.relation, measure(item), delay(item.lag_seconds)) if part)


def node_lines(item: StoryItem) -> list[tuple[str, str]]:
    """(style, text) lines of a node's label; style is "b" (bold), "" or "warn"."""
    lines = [("b", item.publisher)]
    if item.is_original:
        lines.append(("", "original"))
    lines.append(("", when(item.estimated_published_at, "time unknown")))
    if item.claim_disproved:
        lines.append(("warn", f"claimed {when(item.published_at)}: disproved"))
    elif item.claim_after_sighting:
        lines.append(("", f"claimed {when(item.published_at)}: after first sighting"))
    if item.attributed_origin:
        lines.append(("", f"credits {item.attributed_origin}"))
    return lines


def _href(url: str | None) -> str | None:
    link = web_link(url)
    # Graphviz 2.43 writes an href into the SVG as it is, newer ones escape a bare `&` but
    # keep an entity: given `&amp;`, both write a well-formed attribute meaning `&`.
    return link.replace("&", "&amp;") if link else None


def _node_id(story: Story, item: StoryItem) -> str:
    # Unique across stories, so that several pictures can share one HTML page.
    return f"s{story.story_id}i{item.item_id}"


def to_digraph(story: Story, links: bool = True) -> graphviz.Digraph:
    """The story as a Graphviz digraph, the original leftmost, copies to its right.

    With `links` (a standalone picture) nodes link to their articles and the story's
    title is drawn above; without (a picture inside a page that has both already), neither.
    """
    graph = graphviz.Digraph(name=f"story{story.story_id}")
    graph.attr(rankdir="LR", id=f"story{story.story_id}", bgcolor="white" if links else "transparent",
               nodesep="0.3", ranksep="0.6", fontname="DejaVu Sans,Arial,sans-serif", pad="0.15")
    if links:
        title = inline(story.title)
        title = title if len(title) <= 90 else title[:89] + "…"
        graph.attr(label=f"<<B>{html.escape(title, quote=True)}</B>>", labelloc="t", labeljust="l", fontsize="12")
    graph.attr("node", shape="box", style="rounded,filled", fillcolor="white", color="#475569",
               fontname="DejaVu Sans,Arial,sans-serif", fontsize="11", margin="0.15,0.08")
    graph.attr("edge", color="#334155", fontname="DejaVu Sans,Arial,sans-serif", fontsize="9", fontcolor="#334155")
    for item in story.items:
        # An HTML-like label built from escaped text: nothing a feed says becomes DOT or markup.
        rows = []
        for style, line in node_lines(item):
            cell = html.escape(inline(line), quote=True)
            if style == "b":
                cell = f"<B>{cell}</B>"
            elif style == "warn":
                cell = f'<FONT COLOR="{_DISPROVED}">{cell}</FONT>'
            else:
                cell = f'<FONT POINT-SIZE="9">{cell}</FONT>'
            rows.append(cell)
        attrs: dict[str, str] = {"id": _node_id(story, item), "label": "<" + "<BR/>".join(rows) + ">",
                                 "tooltip": graphviz.escape(inline(item.title or item.url or item.publisher))}
        if item.is_original:
            attrs.update(fillcolor=_ORIGINAL_FILL, penwidth="2.2", color="#92400e")
        if item.item_id == story.focus_item_id and not item.is_original:
            attrs.update(fillcolor=_FOCUS_FILL, penwidth="1.8")
        if item.claim_disproved:
            attrs.update(color=_DISPROVED, style="rounded,filled,dashed", penwidth="1.8")
        url = _href(item.url) if links else None
        if url:
            attrs["href"] = url  # percent-encoded: no backslash, quote or space left for DOT to read
            attrs["target"] = "_blank"
        graph.node(_node_id(story, item), **attrs)
    known = {i.item_id for i in story.items}
    for item in story.items:
        if item.parent_item_id is None or item.parent_item_id not in known:
            continue
        parent = _node_id(story, next(i for i in story.items if i.item_id == item.parent_item_id))
        # Drawn parent → copy so that the layout flows from the original, but the arrow
        # points at the parent: the copy was taken from it.
        graph.edge(parent, _node_id(story, item), label=edge_label(item), tooltip=edge_label(item), dir="back",
                   id=f"s{story.story_id}e{item.item_id}", arrowtail="normal",
                   style="dashed" if item.relation == "excerpt" else "solid")
    return graph


def to_dot(story: Story, links: bool = True) -> str:
    """DOT source of the story's picture."""
    return to_digraph(story, links).source


def _mermaid_text(value: str) -> str:
    # Mermaid entity codes: quotes and angle brackets would otherwise end a label or become HTML.
    value = inline(value).replace("#", "#35;")
    for char, code in (('"', "#quot;"), ("<", "#lt;"), (">", "#gt;"), ("|", "#124;"), ("`", "#96;")):
        value = value.replace(char, code)
    return " ".join(value.split())


def to_mermaid(story: Story) -> str:
    """Mermaid flowchart text of the story: copy --> parent edges, the original marked."""
    lines = ["flowchart RL"]
    for item in story.items:
        label = "<br/>".join(_mermaid_text(text) for _, text in node_lines(item))
        lines.append(f'    {_node_id(story, item)}["{label}"]')
    known = {i.item_id for i in story.items}
    for item in story.items:
        if item.parent_item_id is not None and item.parent_item_id in known:
            lines.append(
                f'    s{story.story_id}i{item.item_id} -->|"{_mermaid_text(edge_label(item))}"| s{story.story_id}i{item.parent_item_id}'
            )
    lines.append(f"    classDef original fill:{_ORIGINAL_FILL},stroke:#92400e,stroke-width:3px")
    lines.append(f"    classDef disproved stroke:{_DISPROVED},stroke-dasharray:5 3,stroke-width:2px")
    lines.append(f"    class {_node_id(story, story.original)} original")
    disproved = [_node_id(story, i) for i in story.items if i.claim_disproved]
    if disproved:
        lines.append(f"    class {','.join(disproved)} disproved")
    return "\n".join(lines) + "\n"


def render(story: Story, fmt: str, links: bool = True) -> bytes:
    """The story drawn in `fmt` (dot, svg, png, mermaid); GraphvizMissing when svg/png need `dot`."""
    if fmt == "mermaid":
        return to_mermaid(story).encode("utf-8")
    source = to_dot(story, links)
    if fmt == "dot":
        return source.encode("utf-8")
    if fmt not in PICTURE_FORMATS:
        raise TrackerError(f"unknown format {fmt!r}: use one of {', '.join(PICTURE_FORMATS)}")
    if not dot_available():
        raise GraphvizMissing(f"Graphviz's dot program is not installed: {INSTALL_HINT}")
    try:
        drawn: bytes = graphviz.pipe("dot", fmt, source.encode("utf-8"), quiet=True)
    except (graphviz.ExecutableNotFound, subprocess.CalledProcessError) as error:
        raise GraphvizMissing(f"Graphviz's dot failed ({error}); {INSTALL_HINT}") from None
    return scrub_svg(drawn, links) if fmt == "svg" else drawn


def draw(story: Story, fmt: str, links: bool = True) -> tuple[Picture, str | None]:
    """The story in `fmt`, or — when `dot` is missing for svg/png — in DOT text, with a one-line warning."""
    try:
        return Picture(render(story, fmt, links), fmt), None
    except GraphvizMissing as missing:
        return Picture(render(story, "dot", links), "dot"), f"{missing}; wrote DOT text instead"


def inline_svg(story: Story) -> str | None:
    """The story's SVG for embedding in HTML (no XML prolog, no links), or None without `dot`."""
    try:
        svg = render(story, "svg", links=False).decode("utf-8")
    except (GraphvizMissing, UnsafeSvgError):
        return None
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else None


def story_picture(sessions: sessionmaker[Session], url: str, fmt: str) -> tuple[Picture, str | None]:
    """The story of the article at `url` drawn in `fmt` (see `draw` for the fallback)."""
    with sessions() as session:
        story = story_of(session, url)
    return draw(story, fmt)
