"""`tracker report`: what the HTML report says, and that feed strings stay text."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from datetime import datetime
from pathlib import Path

import lxml.html
import pytest
from click.testing import CliRunner

from tests.builders import T0, Item, article, capture, hours, rss
from tests.conftest import make_pipeline
from tests.story_world import EVIL_TITLE, PUBLISHERS, build_world
from tests.answers.test_graph import requires_dot, world  # noqa: F401  (fixtures)
from tracker.answers import report as report_module
from tracker.cli import main
from tracker.answers.report import CSP, clean_svg, heat_level, web_link, write_report
from tracker.store.database import open_database


def run(config: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--config", str(config), *args])
    return result.exit_code, result.stdout, result.stderr


def make_report(world: Path, tmp_path: Path, *args: str) -> lxml.html.HtmlElement:  # noqa: F811
    code, out, err = run(world, "report", "--out", str(tmp_path / "report"), *args)
    assert code == 0, err
    assert out.startswith(f"wrote {tmp_path / 'report' / 'index.html'}")
    return lxml.html.fromstring((tmp_path / "report" / "index.html").read_bytes())


def matrix(page: lxml.html.HtmlElement) -> dict[tuple[str, str], int]:
    table = page.get_element_by_id("matrix").find(".//table")
    sources = [th.text_content().strip() for th in table.findall("./thead/tr/th")][1:-1]
    cells = {}
    for row in table.findall("./tbody/tr"):
        copier = row.find("th").text_content().strip()
        for source, cell in zip(sources, row.findall("td")[:-1], strict=True):
            if cell.text_content().strip():
                cells[(copier, source)] = int(cell.text_content())
    return cells


def test_report_shows_stories_matrix_delays_and_publishers(world: Path, tmp_path: Path, requires_dot: None) -> None:  # noqa: F811
    page = make_report(world, tmp_path)
    stories = page.find_class("story")
    assert len(stories) == 2
    # The story with three republications comes first, each drawn as an inline SVG.
    assert stories[0].find(".//h3").text_content() == "Pakistani airstrikes kill civilians in eastern Afghanistan"
    assert "3 republications by 3 other publishers" in stories[0].text_content()
    assert all(s.find(".//figure/svg") is not None for s in stories)
    chain_text = " ".join(stories[0].find(".//figure/svg").itertext())
    for publisher in PUBLISHERS:
        assert publisher in chain_text
    assert "disproved" in " ".join(stories[1].find(".//figure/svg").itertext())
    assert matrix(page) == {
        ("ru24.pro", "Khaama Press"): 2,
        ("Headline Digest", "Khaama Press"): 1,
        ("Mirror of Mirrors", "ru24.pro"): 1,
    }
    # The busiest cell is the darkest.
    assert page.xpath("//table[contains(@class,'heatmap')]/tbody//td[not(@class='total')][text()='2']/@class") == ["h8"]
    delays = page.get_element_by_id("delays")
    plot = delays.find(".//figure/svg")
    assert plot is not None
    plot_text = " ".join(plot.itertext())
    assert "ru24.pro (2)" in plot_text and "Headline Digest (1)" in plot_text and "1 h" in plot_text
    rows = {tr.find("th").text_content(): [td.text_content() for td in tr.findall("td")] for tr in delays.findall(".//tbody/tr")}
    assert rows["ru24.pro"] == ["2", "1h after", "1h 30m after", "2h after"]
    publishers = page.get_element_by_id("publishers")
    table = {tr.find("th").text_content(): [td.text_content().strip() for td in tr.findall("td")] for tr in publishers.findall(".//tbody/tr")}
    assert table["Khaama Press"] == ["2", "2", "0", "4", "ru24.pro 2, Headline Digest 1, Mirror of Mirrors 1"]
    assert table["ru24.pro"] == ["2", "0", "2", "0", "—"]


def test_feed_strings_are_escaped_and_nothing_active_is_written(world: Path, tmp_path: Path, requires_dot: None) -> None:  # noqa: F811
    make_report(world, tmp_path)
    html = (tmp_path / "report" / "index.html").read_text()
    assert "<script" not in html.lower()
    assert "<img" not in html.lower()
    # "onerror=" appears only inside the escaped title text, never as an attribute.
    assert html.count("onerror=") == html.count("&lt;img src=x onerror=") > 0
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt;&lt;img src=x onerror=" in html
    page = lxml.html.fromstring(html)
    assert EVIL_TITLE in [h.text_content() for h in page.iter("h3")]
    assert not [k for e in page.iter() if isinstance(e.tag, str) for k in e.attrib if k.lower().startswith("on")]
    # Hovering a node shows its item's title (as text), hovering an edge its label; never Graphviz's ids.
    hover = [t.text for t in page.xpath("//figure[@class='chain']//*[local-name()='title']")]
    assert EVIL_TITLE in hover and "copy, similarity 1.00, 1h after" in hover
    assert not [t for t in hover if re.fullmatch(r"s\d+i\d+.*|story\d+|%\d+", t or "")]


def test_links_are_web_links_with_noopener_nofollow_and_nothing_loads_from_the_network(world: Path, tmp_path: Path, requires_dot: None) -> None:  # noqa: F811
    page = make_report(world, tmp_path)
    links = [a for a in page.iter("a") if not a.get("href", "#").startswith("#")]
    assert len(links) >= 6
    for link in links:
        assert link.get("href").startswith("https://")
        assert {"noopener", "nofollow"} <= set(link.get("rel").split())
    assert page.xpath("//meta[@http-equiv='Content-Security-Policy']/@content") == [CSP]
    assert "default-src 'none'" in CSP and "script-src" not in CSP
    assert not page.xpath("//*[@src] | //link[@href] | //*[local-name()='image']")
    assert not page.xpath("//svg//*[local-name()='a'] | //svg//@*[local-name()='href' and not(starts-with(., '#'))]")


def test_since_keeps_only_recent_items(world: Path, tmp_path: Path, requires_dot: None) -> None:  # noqa: F811
    page = make_report(world, tmp_path, "--since", "2025-01-07T10:30:00Z")
    # Only copies published after 10:30 remain: ru24's mirror (11:00), the digest (12:00), the mirror of mirrors (13:00).
    assert matrix(page) == {("ru24.pro", "Khaama Press"): 1, ("Headline Digest", "Khaama Press"): 1, ("Mirror of Mirrors", "ru24.pro"): 1}
    assert not page.find_class("story")  # both originals were published before 10:30
    assert "No story has been republished in this period" in page.get_element_by_id("stories").text_content()
    assert "since 2025-01-07 10:30:00Z" in page.find(".//header").text_content()
    page = make_report(world, tmp_path, "--since", "1d")  # a day back from now: nothing from 2025
    assert "No republications in this period" in page.get_element_by_id("matrix").text_content()
    assert page.get_element_by_id("delays").find(".//svg") is None


def test_without_dot_stories_are_text_trees_and_a_warning_says_why(world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setattr(report_module, "dot_available", lambda: False)
    code, out, err = run(world, "report", "--out", str(tmp_path / "report"))
    assert code == 0 and "apt-get install graphviz" in err
    assert "(0 drawn, the rest as text trees)" in out  # not "drawn": none was
    page = lxml.html.fromstring((tmp_path / "report" / "index.html").read_bytes())
    story = page.find_class("story")[0]
    assert story.find(".//figure") is None
    assert story.find(".//details").get("open") is not None
    assert [li.find("strong").text for li in story.iter("li")] == ["Khaama Press", "ru24.pro", "Mirror of Mirrors", "Headline Digest"]
    assert "apt-get install graphviz" in page.find_class("warning")[0].text_content()


def test_out_must_be_a_folder_and_since_must_be_a_time(world: Path, tmp_path: Path) -> None:  # noqa: F811
    (tmp_path / "file").write_text("x")
    code, _, err = run(world, "report", "--out", str(tmp_path / "file"))
    assert code == 2 and err.count("\n") == 1
    code, _, err = run(world, "report", "--out", str(tmp_path / "r"), "--since", "last tuesday")
    assert code == 2 and "--since" in err and err.count("\n") == 1


def test_report_reads_postgresql_and_sqlite_alike(any_db_url: str, tmp_path: Path) -> None:
    build_world(any_db_url)
    result = write_report(open_database(any_db_url), tmp_path / "out", since=datetime(2025, 1, 7, 10, 30))
    assert result.stories == 0 and result.publishers == 3  # Khaama Press published only before 10:30
    result = write_report(open_database(any_db_url), tmp_path / "out", top=1)
    assert result.stories == 1
    page = lxml.html.fromstring(result.path.read_bytes())
    assert len(matrix(page)) == 3


@pytest.mark.parametrize("since", ["1.5d", "soon"])
def test_since_reads_as_in_every_other_command(world: Path, tmp_path: Path, since: str) -> None:  # noqa: F811
    # One parser for every --since: a decimal span works here as in `stories`, and a wrong one fails alike.
    report = run(world, "report", "--out", str(tmp_path / "report"), "--since", since)
    stories = run(world, "stories", "--since", since)
    assert report[0] == stories[0] == (0 if since == "1.5d" else 2)
    assert report[2] == stories[2]


def test_clean_svg_removes_anything_active() -> None:
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" onload="x()">'
        '<script>alert(1)</script><foreignObject><div>hi</div></foreignObject>'
        '<a xlink:href="javascript:alert(1)"><text>label</text></a><use xlink:href="#m1"/>'
        '<image href="https://tracker.example/pixel.png"/></svg>'
    )
    cleaned = str(clean_svg(svg))
    assert "script" not in cleaned and "foreignObject" not in cleaned and "onload" not in cleaned
    assert "javascript" not in cleaned and "https://" not in cleaned
    assert "<text>label</text>" in cleaned and 'xlink:href="#m1"' in cleaned


def test_web_link_and_heat_levels() -> None:
    assert web_link("https://a.example/x?y=1") == "https://a.example/x?y=1"
    assert web_link("javascript:alert(1)") is None and web_link("data:text/html,x") is None and web_link(None) is None
    assert [heat_level(n, 100) for n in (0, 1, 25, 100)] == [0, 1, 4, 8]


def test_every_template_is_package_data() -> None:
    """A user's `pip install tracker` must find the templates: each matches a package-data pattern."""
    root = Path(__file__).resolve().parents[2]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["tracker.answers"]
    package = root / "tracker" / "answers"
    templates = sorted(p.relative_to(package) for p in (package / "templates").iterdir())
    assert {str(t) for t in templates} >= {"templates/report.html.jinja", "templates/report.css"}
    for template in templates:
        assert any(fnmatch.fnmatch(str(template), pattern) for pattern in patterns), template


def test_control_and_bidi_characters_of_feed_strings_are_shown_escaped(sqlite_url: str, tmp_path: Path) -> None:
    # A publisher named with U+202E turned the words after it around in the browser (in the
    # text, the tooltips and the delay plot), where every other output shows it as \u202e.
    spoof, title = "Reuters\u202e moc.sretuer", "Budget \u2066vote\u2069 passes\u200f"
    feeds = [{"url": "https://a.example/feed", "publisher": spoof}, {"url": "https://b.example/feed", "publisher": "Copier\u2067"}]
    pipeline = make_pipeline(sqlite_url, feeds)
    story = Item(title, "https://a.example/1", article(3), T0)
    pipeline.ingest([capture("https://a.example/feed", T0, rss(spoof, "https://a.example/", [story])),
                     capture("https://b.example/feed", T0 + hours(1), rss("Copier\u2067", "https://b.example/",
                             [Item(title, "https://b.example/1", article(3), T0 + hours(1))]))])
    result = write_report(open_database(sqlite_url), tmp_path / "out")
    html = result.path.read_text(encoding="utf-8")
    assert result.stories == 1 and "Reuters\\u202e moc.sretuer" in html
    assert not [c for c in "\u202e\u2066\u2067\u2069\u200f" if c in html]
    assert "Copier\\u2067 (1)" in html  # the delay plot's label
