"""Every output that carries feed data is safe where it goes (issue 13).

A picture opened in a browser runs nothing; a CSV opened in a spreadsheet computes
nothing; a bidi override never reaches a terminal, a CSV, a PROV-N file or an alert file
raw. The world is written by an attacker (tests/hostile_world.py) and every check goes
through the `tracker` command a user runs.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree

from tests.hostile_world import (
    ATTRIBUTE_LINK,
    BIDI,
    BIDI_TITLE,
    FEEDS,
    FORMULA_PUBLISHER,
    FORMULA_TITLE,
    build_hostile_world,
)
from tests.answers.test_report_browser import FLAGS, _chromium
from tracker.cli import main
from tracker.daemon.deliver import deliver_once
from tracker.answers.graph import render, to_mermaid
from tracker.store.database import open_database
from tracker.store.pictures import story_of
from tracker.answers.websafe import web_link

ELEMENT_LINK = 'http://b.example/"><script>window.pwned=2</script>'
LEADERS = ("=", "+", "-", "@", "\t", "\r")


@pytest.fixture
def world(tmp_path: Path) -> Path:
    """A config file whose SQLite database holds the hostile world."""
    url = f"sqlite:///{tmp_path / 'hostile.sqlite3'}"
    build_hostile_world(url)
    lines = ["[database]", f'url = "{url}"', ""]
    for feed in FEEDS:
        lines += ["[[feeds]]", f'url = "{feed["url"]}"'] + ([f'publisher = "{feed["publisher"]}"'] if "publisher" in feed else []) + [""]
    path = tmp_path / "tracker.toml"
    path.write_text("\n".join(lines))
    return path


def run(config: Path, *args: str) -> str:
    result = CliRunner().invoke(main, ["--config", str(config), *args])
    assert result.exit_code == 0, result.output
    return result.stdout_bytes.decode("utf-8")


# -- SVG ---------------------------------------------------------------------------------------
def _svg_problems(svg: bytes) -> list[str]:
    """What in this SVG could run or navigate: the checks a reviewer would make by hand."""
    root = etree.fromstring(svg, etree.XMLParser(resolve_entities=False, no_network=True))
    problems = []
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        name = etree.QName(element).localname
        if name in ("script", "foreignObject"):
            problems.append(f"<{name}>")
        for attribute, value in element.attrib.items():
            local = etree.QName(attribute).localname.lower()
            if local.startswith("on"):
                problems.append(f"{local}= on <{name}>")
            if local == "href" and not value.startswith("#") and web_link(value) != value:
                problems.append(f"link {value!r}")
    return problems


@pytest.mark.parametrize("link", [ATTRIBUTE_LINK, ELEMENT_LINK])
def test_graph_svg_of_a_hostile_link_holds_no_handler_script_or_odd_link(world: Path, tmp_path: Path, link: str) -> None:
    out = tmp_path / "chain.svg"
    run(world, "graph", link, "--format", "svg", "--out", str(out))
    svg = out.read_bytes()
    assert _svg_problems(svg) == []
    hrefs = [str(h) for h in etree.fromstring(svg).xpath("//@*[local-name()='href']")]
    # Both articles are still linked, to what the feed said, percent-encoded.
    assert sorted(hrefs) == ["http://a.example/q%22%20onfocus=%22window.pwned=1%22%20autofocus=%22x",
                             "http://b.example/%22%3E%3Cscript%3Ewindow.pwned=2%3C/script%3E"]


def test_graph_svg_of_a_hostile_link_runs_nothing_in_chromium(world: Path, tmp_path: Path) -> None:
    chromium = _chromium()
    from playwright.sync_api import sync_playwright

    pictures = []
    for n, link in enumerate((ATTRIBUTE_LINK, ELEMENT_LINK)):
        pictures.append(tmp_path / f"chain{n}.svg")
        run(world, "graph", link, "--format", "svg", "--out", str(pictures[-1]))
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=chromium, headless=True, args=FLAGS, java_script_enabled=True,
        )
        try:
            page = context.new_page()
            for picture in pictures:
                page.goto(picture.as_uri(), wait_until="load")
                page.wait_for_timeout(300)  # an autofocus handler fires after load
                assert page.evaluate("typeof window.pwned") == "undefined"
                assert page.evaluate("document.querySelectorAll('script').length") == 0
                # The drawing still links to both articles.
                assert page.evaluate("document.querySelectorAll('a[*|href]').length") == 2
        finally:
            context.close()


# -- CSV ---------------------------------------------------------------------------------------
CSV_COMMANDS = [
    ("export", "--format", "csv"),
    ("stories", "--format", "csv"),
    ("find", "Invoice", "--format", "csv"),
    ("find", "HYPERLINK", "--format", "csv"),
    ("copies", "Khaama Press", "--format", "csv"),
    ("publishers", "--format", "csv"),
    ("stats", "--format", "csv"),
    ("origin", ATTRIBUTE_LINK, "--format", "csv"),
    ("feeds", "--format", "csv"),
]


@pytest.mark.parametrize("command", CSV_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_every_csv_cell_is_inert_in_a_spreadsheet(world: Path, command: tuple[str, ...]) -> None:
    text = run(world, *command)
    rows = list(csv.reader(io.StringIO(text)))
    assert len(rows) > 1, text
    cells = [cell for row in rows[1:] for cell in row]
    for cell in cells:
        try:
            float(cell)
            continue  # numbers stay numbers: a negative delay is -120, not '-120
        except ValueError:
            assert not cell.startswith(LEADERS), f"{command}: live formula {cell!r}"
    assert BIDI not in text
    shown = set(cells)
    if command[0] in ("export", "find", "origin", "stories"):
        assert "'" + FORMULA_TITLE in shown or "Invoice \\u202efdp.exe" in shown
    if command[0] in ("export", "publishers", "stats", "copies", "feeds"):
        assert "'" + FORMULA_PUBLISHER in shown


# -- bidi controls -----------------------------------------------------------------------------
def test_a_bidi_override_is_shown_escaped_in_tables_csv_and_prov_n_and_kept_exact_in_json(world: Path) -> None:
    table = run(world, "find", "Invoice")
    assert BIDI not in table and "Invoice \\u202efdp.exe" in table
    provn = run(world, "export", "--format", "prov-n")
    assert BIDI not in provn and "\\u202efdp.exe" in provn
    # JSON keeps the exact text (as a \\u escape, never raw): a program reading it gets what the feed said.
    prov_json = run(world, "export", "--format", "prov-json")
    assert BIDI not in prov_json and BIDI_TITLE in json.dumps(json.loads(prov_json), ensure_ascii=False)
    jsonl = run(world, "export", "--format", "jsonl")
    assert BIDI not in jsonl and BIDI_TITLE in {json.loads(line)["title"] for line in jsonl.splitlines()}


def test_an_alert_file_carries_the_title_exactly_but_no_raw_bidi_override(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'alerts.sqlite3'}"
    alerts = tmp_path / "alerts.jsonl"
    config = build_hostile_world(url, alerts=[{"name": "all", "any": True, "file": str(alerts)}])
    report = deliver_once(config)
    assert report.delivered == 2
    raw = alerts.read_text("utf-8")
    assert BIDI not in raw
    titles = {json.loads(line)["copy"]["title"] for line in raw.splitlines()}
    assert titles == {BIDI_TITLE, FORMULA_TITLE}


@pytest.mark.parametrize("fmt", ["dot", "svg"])
def test_picture_labels_show_a_bidi_override_escaped(world: Path, fmt: str) -> None:
    text = run(world, "graph", "https://ru24.pro/2.html", "--format", fmt)
    assert BIDI not in text and "\\u202e" in text


def test_mermaid_labels_show_a_bidi_override_escaped(world: Path) -> None:
    url = next(line.split('"')[1] for line in world.read_text().splitlines() if line.startswith("url = \"sqlite"))
    with open_database(url, create=False)() as session:
        story = story_of(session, "https://ru24.pro/2.html")
    hostile = replace(story.items[0], publisher=f"Khaama {BIDI}sserP")
    text = to_mermaid(replace(story, items=(hostile, *story.items[1:])))
    assert BIDI not in text and "Khaama \\u202esserP" in text


def test_a_title_xml_cannot_carry_still_draws_a_well_formed_svg(world: Path) -> None:
    url = next(line.split('"')[1] for line in world.read_text().splitlines() if line.startswith("url = \"sqlite"))
    with open_database(url, create=False)() as session:
        story = story_of(session, "https://ru24.pro/2.html")
    hostile = replace(story.items[0], title="noncharacters \uffff\ufffe and a lone \ud800")
    svg = render(replace(story, items=(hostile, *story.items[1:])), "svg")
    assert _svg_problems(svg) == [] and b"noncharacters \\uffff\\ufffe and a lone \\ud800" in svg
