"""`tracker report`: a static, self-contained HTML report of who copies whom.

Jinja2 lives here. The report is one `index.html` with its CSS and every picture inline
(chain pictures from Graphviz, the delay plot from matplotlib, the matrix as an HTML
table), so it opens offline and can be mailed or archived as one file. Feed strings are
untrusted: templates autoescape, links are web links only and carry `rel="noopener
nofollow"`, embedded SVG is stripped of anything active, and a Content-Security-Policy
forbids scripts, network fetches and forms outright.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape
from lxml import etree
from markupsafe import Markup
from sqlalchemy.orm import Session, sessionmaker

from tracker.answers.graph import INSTALL_HINT, dot_available, edge_label, inline_svg
from tracker.answers.output import delay, write_file
from tracker.answers.plots import delay_plot
from tracker.answers.websafe import scrub_svg, web_link
from tracker.errors import InputError
from tracker.model import utcnow
from tracker.terminal import safe
from tracker.store.pictures import (
    PublisherSummary,
    Story,
    StoryItem,
    copy_delays,
    copy_matrix,
    load_story,
    publisher_summaries,
    top_stories,
)
from tracker.timefmt import when

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "base-uri 'none'; form-action 'none'"
)
MATRIX_MAX = 30  # publishers per matrix axis


@dataclass(frozen=True)
class TreeRow:
    """One line of a story's text tree: the item and how deep it sits."""

    item: StoryItem
    depth: int
    label: str  # the edge label, empty for the original


@dataclass(frozen=True)
class StoryView:
    """A story as the report shows it."""

    story: Story
    svg: Markup | None
    tree: list[TreeRow]


@dataclass(frozen=True)
class Matrix:
    """Who copies whom: copiers (rows) × sources (columns), counts and shades."""

    copiers: list[str]
    sources: list[str]
    cells: dict[tuple[str, str], int]
    highest: int
    omitted: int = 0  # pairs left out beyond MATRIX_MAX publishers per axis

    def count(self, copier: str, source: str) -> int:
        """Items `copier` took directly from `source`."""
        return self.cells.get((copier, source), 0)

    def level(self, copier: str, source: str) -> int:
        """The cell's shade 0…8."""
        return heat_level(self.count(copier, source), self.highest)

    def row_total(self, copier: str) -> int:
        """All items a copier took from the sources shown."""
        return sum(self.count(copier, s) for s in self.sources)

    def column_total(self, source: str) -> int:
        """All items taken from a source by the copiers shown."""
        return sum(self.count(c, source) for c in self.copiers)


@dataclass(frozen=True)
class DelayRow:
    """A republisher's copy delays, summarised."""

    publisher: str
    copies: int
    fastest: str
    median: str
    slowest: str


@dataclass
class ReportData:
    """Everything the template shows."""

    generated_at: datetime
    since: datetime | None
    stories: list[StoryView]
    matrix: Matrix
    delay_svg: Markup | None
    delays: list[DelayRow]
    publishers: list[PublisherSummary]
    warnings: list[str] = field(default_factory=list)

    @property
    def items(self) -> int:
        """Items in the period."""
        return sum(p.items for p in self.publishers)

    @property
    def republications(self) -> int:
        """Republications in the period."""
        return sum(p.copies for p in self.publishers)


@dataclass(frozen=True)
class ReportResult:
    """What `write_report` did."""

    path: Path
    stories: int
    publishers: int
    warnings: list[str]
    drawn: int = 0  # stories drawn as pictures (the others as text trees: no Graphviz)


def heat_level(count: int, highest: int, levels: int = 8) -> int:
    """The shade (0 = none … levels) of a matrix cell: square-root scaled, so small counts still show."""
    if count <= 0 or highest <= 0:
        return 0
    return max(1, min(levels, math.ceil(levels * math.sqrt(count / highest))))


def _tree(story: Story) -> list[TreeRow]:
    children: dict[int | None, list[StoryItem]] = {}
    for item in story.items:
        children.setdefault(item.parent_item_id, []).append(item)
    rows: list[TreeRow] = []
    seen: set[int] = set()

    def walk(item: StoryItem, depth: int) -> None:
        if item.item_id in seen:
            return
        seen.add(item.item_id)
        rows.append(TreeRow(item, depth, "" if item.is_original else edge_label(item)))
        for child in children.get(item.item_id, []):
            walk(child, depth + 1)

    walk(story.original, 0)
    for item in story.items:  # anything whose parent lies outside the story (should not happen)
        walk(item, 1)
    return rows


_SVG_NS = "http://www.w3.org/2000/svg"
_XLINK_TITLE = "{http://www.w3.org/1999/xlink}title"


def clean_svg(svg: str) -> Markup:
    """SVG made safe to inline: no scripts, foreign HTML, event handlers, or links out of it.

    Graphviz and matplotlib already escape the text they are given; `scrub_svg` is a
    second guard, so that a flaw in either can never run a feed's script in the report.
    """
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True, huge_tree=False)
    root = etree.fromstring(scrub_svg(svg.encode("utf-8"), links=False), parser)
    for element in list(root.iter()):
        if not isinstance(element.tag, str):
            continue
        parent = element.getparent()
        if etree.QName(element).localname == "title" and parent is not None and parent.get("class") in ("graph", "node", "edge"):
            parent.remove(element)  # Graphviz's internal ids ("s1i5"), shown on hover otherwise
            continue
        if etree.QName(element).localname == "a":
            # Keep the anchor's drawing, drop the link; its tooltip (an item's title) becomes
            # the group's <title>, which browsers show on hover, instead of Graphviz's node id.
            tooltip = element.attrib.pop(_XLINK_TITLE, None)
            element.tag = f"{{{_SVG_NS}}}g"
            group = element.getparent()
            if tooltip and group is not None:
                title = etree.Element(f"{{{_SVG_NS}}}title")
                title.text = tooltip
                group.insert(0, title)
    return Markup(etree.tostring(root, encoding="unicode"))


def _delay_rows(delays: dict[str, list[int]]) -> list[DelayRow]:
    rows = [
        DelayRow(name, len(values), delay(min(values)), delay(int(statistics.median(values))), delay(max(values)))
        for name, values in delays.items() if values
    ]
    return sorted(rows, key=lambda r: (-r.copies, r.publisher))


def _matrix(cells: dict[tuple[str, str], int]) -> Matrix:
    by_copier: dict[str, int] = {}
    by_source: dict[str, int] = {}
    for (copier, source), n in cells.items():
        by_copier[copier] = by_copier.get(copier, 0) + n
        by_source[source] = by_source.get(source, 0) + n
    copiers = sorted(by_copier, key=lambda p: (-by_copier[p], p))[:MATRIX_MAX]
    sources = sorted(by_source, key=lambda p: (-by_source[p], p))[:MATRIX_MAX]
    shown = {k: v for k, v in cells.items() if k[0] in copiers and k[1] in sources}
    return Matrix(copiers, sources, shown, max(shown.values(), default=0), omitted=len(cells) - len(shown))


def gather(sessions: sessionmaker[Session], since: datetime | None = None, top: int = 10) -> ReportData:
    """Read everything the report shows from the public views, and draw its pictures."""
    warnings: list[str] = []
    with sessions() as session:
        summaries = top_stories(session, since, top)
        stories = [load_story(session, s.story_id) for s in summaries]
        cells = copy_matrix(session, since)
        delays = copy_delays(session, since)
        publishers = publisher_summaries(session, since)
    drawable = dot_available()
    if stories and not drawable:
        warnings.append(f"Graphviz's dot program is not installed, so stories are shown as text trees only: {INSTALL_HINT}")
    views = []
    for story in stories:
        svg = inline_svg(story) if drawable else None
        views.append(StoryView(story, clean_svg(svg) if svg else None, _tree(story)))
    plot = delay_plot(delays)
    return ReportData(
        generated_at=utcnow(),
        since=since,
        stories=views,
        matrix=_matrix(cells),
        delay_svg=clean_svg(plot) if plot else None,
        delays=_delay_rows(delays),
        publishers=publishers,
        warnings=warnings,
    )


def _shown(value: object) -> object:
    return safe(value) if isinstance(value, str) and not isinstance(value, Markup) else value


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("tracker.answers", "templates"),
        autoescape=select_autoescape(["html", "jinja", "j2"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
        # Every value a template prints, feed data first, with control and bidi characters
        # shown escaped (tracker.terminal), as in every other output: a publisher named
        # with U+202E would otherwise turn the words after it around in the browser.
        finalize=_shown,
    )
    env.filters["web_link"] = web_link
    env.filters["when"] = when
    return env


def render_html(data: ReportData) -> str:
    """The report's HTML."""
    return _environment().get_template("report.html.jinja").render(data=data, csp=CSP)


def write_report(sessions: sessionmaker[Session], out: Path, since: datetime | None = None, top: int = 10) -> ReportResult:
    """Write `out/index.html`; the folder is created if needed. InputError when `out` is a file."""
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file, not a folder")
    data = gather(sessions, since, top)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "index.html"
    write_file(path, render_html(data).encode("utf-8"))
    drawn = sum(1 for view in data.stories if view.svg)
    return ReportResult(path, len(data.stories), len(data.publishers), data.warnings, drawn)
