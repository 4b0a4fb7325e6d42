"""`tracker graph`: a story's chain in DOT, SVG, PNG and Mermaid, as a user would open them."""

from __future__ import annotations

import io
import os
import re
import shutil
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pydot
import pytest
from click.testing import CliRunner

from tests.story_world import (
    BACKDATED_URL,
    DIGEST_URL,
    EVIL_TITLE,
    FEEDS,
    MIRROR_OF_MIRROR_URL,
    MIRROR_URL,
    ORIGINAL_URL,
    PUBLISHERS,
    SECOND_URL,
    build_world,
)
from tracker.answers import graph as graph_module
from tracker.cli import main
from tracker.answers.graph import render, to_mermaid
from tracker.store.database import open_database
from tracker.store.pictures import story_of

SVG = "{http://www.w3.org/2000/svg}"
# pydot's parser still calls pyparsing's old method names; that is pydot's business, not ours.
pytestmark = pytest.mark.filterwarnings("ignore:'[a-zA-Z]+' deprecated:DeprecationWarning")


@pytest.fixture
def requires_dot() -> None:
    """Skip (fail in CI) when Graphviz's dot is not installed."""
    if shutil.which("dot") is None:
        if os.environ.get("TRACKER_REQUIRE_SERVICES") == "1":
            pytest.fail("Graphviz's dot is required (TRACKER_REQUIRE_SERVICES=1) but not installed")
        pytest.skip("Graphviz's dot is not installed")


@pytest.fixture
def world(tmp_path: Path) -> Path:
    """A config file whose SQLite database holds the two-story world."""
    url = f"sqlite:///{tmp_path / 'world.sqlite3'}"
    build_world(url)
    lines = ["[database]", f'url = "{url}"', ""]
    for feed in FEEDS:
        lines += ["[[feeds]]", f'url = "{feed["url"]}"', f'publisher = "{feed["publisher"]}"', ""]
    path = tmp_path / "tracker.toml"
    path.write_text("\n".join(lines))
    return path


def run(config: Path, *args: str) -> tuple[int, bytes, str]:
    result = CliRunner().invoke(main, ["--config", str(config), *args])
    return result.exit_code, result.stdout_bytes, result.stderr


def parse_dot(source: str) -> pydot.Dot:
    graphs = pydot.graph_from_dot_data(source)
    assert graphs and len(graphs) == 1, "DOT does not parse"
    return graphs[0]


def test_dot_parses_and_has_a_node_per_item_and_a_labelled_edge_per_copy(world: Path) -> None:
    code, out, _ = run(world, "graph", MIRROR_OF_MIRROR_URL, "--format", "dot")
    assert code == 0
    dot = parse_dot(out.decode())
    nodes = {n.get_name(): n for n in dot.get_nodes() if n.get_name() not in ("node", "edge", "graph")}
    assert len(nodes) == 4
    labels = " ".join(str(n.get("label")) for n in nodes.values())
    for publisher in PUBLISHERS:
        assert publisher in labels
    edges = {(e.get_source(), e.get_destination()): str(e.get("label")).strip('"') for e in dot.get_edges()}
    assert len(edges) == 3
    by_publisher = {re.search(r"<B>(.*?)</B>", str(n.get("label"))).group(1): name for name, n in nodes.items()}  # type: ignore[union-attr]
    khaama, ru24, digest, mirrors = (by_publisher[p] for p in PUBLISHERS)
    # Laid out from the parent, arrow drawn at the parent: the copy points at what it copied.
    assert set(edges) == {(khaama, ru24), (khaama, digest), (ru24, mirrors)}
    assert all(e.get("dir") == "back" for e in dot.get_edges())
    assert re.fullmatch(r"copy, similarity 0\.\d\d, 2h after", edges[(khaama, ru24)])
    assert edges[(khaama, digest)] == "excerpt, 100% contained, 3h after"
    assert edges[(ru24, mirrors)].startswith("copy, similarity") and edges[(ru24, mirrors)].endswith("2h after")
    original = nodes[khaama]
    assert "original" in str(original.get("label")) and original.get("penwidth") is not None
    assert all("original" not in str(nodes[n].get("label")) for n in (ru24, digest, mirrors))


def test_disproved_claimed_date_is_marked(world: Path) -> None:
    code, out, _ = run(world, "graph", BACKDATED_URL, "--format", "dot")
    assert code == 0
    dot = parse_dot(out.decode())
    copy = next(n for n in dot.get_nodes() if "ru24.pro" in str(n.get("label")))
    assert "claimed 2025-01-07 04:00:00Z: disproved" in str(copy.get("label"))
    assert "dashed" in str(copy.get("style"))
    original = next(n for n in dot.get_nodes() if "Khaama Press" in str(n.get("label")))
    assert "disproved" not in str(original.get("label"))
    code, out, _ = run(world, "graph", BACKDATED_URL, "--format", "mermaid")
    copy_id = re.search(r"(s\d+i\d+)\[\"ru24\.pro", out.decode()).group(1)  # type: ignore[union-attr]
    assert f"class {copy_id} disproved" in out.decode()


def test_svg_is_well_formed_and_names_every_publisher(world: Path, tmp_path: Path, requires_dot: None) -> None:
    out_file = tmp_path / "chain.svg"
    code, _, err = run(world, "graph", MIRROR_URL, "--out", str(out_file))  # format from the suffix
    assert code == 0, err
    root = ET.parse(out_file).getroot()
    assert root.tag == f"{SVG}svg"
    texts = " ".join(t.text or "" for t in root.iter(f"{SVG}text"))
    for publisher in PUBLISHERS:
        assert publisher in texts
    assert "copy, similarity" in texts and "excerpt, 100% contained" in texts


def test_svg_of_a_hostile_title_holds_it_as_text_only(world: Path, requires_dot: None) -> None:
    code, out, _ = run(world, "graph", SECOND_URL, "--format", "svg")
    assert code == 0
    root = ET.fromstring(out)
    assert not [e for e in root.iter() if e.tag.endswith("script") or e.tag.endswith("img")]
    assert not [k for e in root.iter() for k in e.attrib if k.lower().startswith("on")]
    titles = [v for e in root.iter() for k, v in e.attrib.items() if k.endswith("title")]
    assert EVIL_TITLE in titles  # the tooltip, as an attribute value: text, never markup


def test_png_is_an_image(world: Path, tmp_path: Path, requires_dot: None) -> None:
    from PIL import Image

    out_file = tmp_path / "chain.png"
    code, _, _ = run(world, "graph", MIRROR_OF_MIRROR_URL, "--format", "png", "--out", str(out_file))
    assert code == 0
    image = Image.open(io.BytesIO(out_file.read_bytes()))
    assert image.format == "PNG" and image.width > 300 and image.height > 80


def test_mermaid_has_every_edge_and_marks_the_original(world: Path) -> None:
    code, out, _ = run(world, "graph", DIGEST_URL, "--format", "mermaid")
    assert code == 0
    text = out.decode()
    assert text.startswith("flowchart RL\n")
    nodes = dict(re.findall(r'^\s+(s\d+i\d+)\["(.*?)"\]$', text, re.MULTILINE))
    ids = {label.split("<br/>")[0]: node for node, label in nodes.items()}
    assert set(ids) == set(PUBLISHERS)
    edges = re.findall(r'^\s+(s\d+i\d+) -->\|"(.*?)"\| (s\d+i\d+)$', text, re.MULTILINE)
    assert {(a, b) for a, _, b in edges} == {
        (ids["ru24.pro"], ids["Khaama Press"]),
        (ids["Headline Digest"], ids["Khaama Press"]),
        (ids["Mirror of Mirrors"], ids["ru24.pro"]),
    }
    assert f"class {ids['Khaama Press']} original" in text


def test_mermaid_escapes_feed_strings(world: Path, tmp_path: Path) -> None:
    sessions = open_database(f"sqlite:///{tmp_path / 'world.sqlite3'}")
    with sessions() as session:
        story = story_of(session, SECOND_URL)
    hostile = replace(story.items[0], publisher='Evil"] --> x["<b>|#')
    text = to_mermaid(replace(story, items=(hostile, *story.items[1:])))
    line = next(line for line in text.splitlines() if "Evil" in line)
    assert line.count('"') == 2 and "<b>" not in line and "|" not in line.split('"')[1]
    assert "Evil#quot;] --#gt; x[#quot;#lt;b#gt;#124;#35;" in line


def test_hostile_publisher_name_cannot_break_out_of_the_dot_label(world: Path, tmp_path: Path) -> None:
    sessions = open_database(f"sqlite:///{tmp_path / 'world.sqlite3'}")
    with sessions() as session:
        story = story_of(session, SECOND_URL)
    evil = 'A>]; x [label=<<B>pwn</B>>]; "\\'
    hostile = replace(story.items[0], publisher=evil)
    dot = parse_dot(render(replace(story, items=(hostile, *story.items[1:])), "dot").decode())
    names = {n.get_name() for n in dot.get_nodes()} - {"node", "edge", "graph"}
    assert len(names) == 2  # no node "x" injected


def test_without_dot_svg_falls_back_to_dot_text_with_one_warning(world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(graph_module, "dot_available", lambda: False)
    code, _, err = run(world, "graph", MIRROR_URL, "--out", str(tmp_path / "chain.svg"))
    assert code == 1  # not the picture asked for: a script must not carry on as if it were
    assert not (tmp_path / "chain.svg").exists()
    parse_dot((tmp_path / "chain.dot").read_text())
    warning = [line for line in err.splitlines() if "warning" in line]
    assert len(warning) == 1 and "apt-get install graphviz" in warning[0] and "DOT" in warning[0]
    assert err.splitlines()[-1] == "tracker: no svg written (DOT text instead); exit 1"


def test_without_dot_png_to_stdout_is_dot_text_and_exit_1(world: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(graph_module, "dot_available", lambda: False)
    code, out, err = run(world, "graph", MIRROR_URL, "--format", "png")
    assert code == 1
    parse_dot(out.decode())
    assert "no png written" in err


def test_unknown_url_is_one_line_and_exit_2(world: Path) -> None:
    code, _, err = run(world, "graph", "https://nowhere.example/x", "--format", "dot")
    assert code == 2
    assert err.strip().count("\n") == 0 and "no item with URL" in err


def test_graph_reads_postgresql_and_sqlite_alike(any_db_url: str) -> None:
    build_world(any_db_url)
    sessions = open_database(any_db_url)
    with sessions() as session:
        story = story_of(session, ORIGINAL_URL)
    assert [i.publisher for i in story.items] == list(PUBLISHERS)
    assert story.original.url == ORIGINAL_URL and story.focus_item_id == story.original.item_id
    assert to_mermaid(story).count("-->") == 3


_ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ?")


def test_evidence_gives_every_time_in_iso_8601_utc_with_a_z(world: Path) -> None:
    import json

    code, out, _ = run(world, "origin", BACKDATED_URL, "--format", "json")
    assert code == 0
    evidence = [json.loads(line)["evidence"] for line in out.decode().splitlines()]
    times = [t for e in evidence for t in _ISO_TIME.findall(json.dumps(e))]
    assert len(times) >= 4  # estimated_at of both items, and the disproved claim's two times
    assert all(t.endswith("Z") for t in times), times
    copy = next(e for e in evidence if "parent" in e)
    assert copy["time_evidence"] == "claimed 2025-01-07T04:00:00Z disproved: feed captured at 2025-01-07T07:00:00Z without it; first seen"


def test_evidence_stored_before_times_had_a_z_is_still_read(world: Path) -> None:
    import sqlalchemy as sa

    url = next(line for line in world.read_text().splitlines() if line.startswith("url = ")).split('"')[1]
    engine = sa.create_engine(url)
    with engine.begin() as conn:  # the form databases of earlier versions hold: no Z
        conn.execute(sa.text("UPDATE provenance SET evidence = REPLACE(evidence, 'Z', '')"))
        left = conn.execute(sa.text("SELECT COUNT(*) FROM provenance WHERE evidence LIKE :z"), {"z": "%Z%"}).scalar_one()
    engine.dispose()
    assert left == 0
    code, out, _ = run(world, "origin", BACKDATED_URL)
    assert code == 0 and "its claimed date was disproved" in out.decode()
    code, out, _ = run(world, "graph", BACKDATED_URL, "--format", "mermaid")
    assert code == 0 and " disproved" in out.decode()


# Every spelling of a link that tracker.identity takes for the same article: scheme, "www.",
# host case, default port, trailing slash, tracking parameters and fragment.
URL_VARIANTS = [
    (ORIGINAL_URL, ORIGINAL_URL),
    (ORIGINAL_URL, "http://www.khaama.com/pakistani-airstrikes-kill-civilians/"),
    (ORIGINAL_URL, "https://khaama.com/pakistani-airstrikes-kill-civilians"),
    (ORIGINAL_URL, "HTTPS://WWW.KHAAMA.COM:443/pakistani-airstrikes-kill-civilians/?utm_source=x&fbclid=y#top"),
    (MIRROR_URL, "http://www.ru24.pro/70678-pakistani-airstrikes.html/"),
    (MIRROR_URL, "https://ru24.pro/70678-pakistani-airstrikes.html?utm_medium=rss"),
    (MIRROR_OF_MIRROR_URL, "  https://mirrorofmirrors.example/9.html#comments "),
]


@pytest.mark.parametrize(("published", "asked"), URL_VARIANTS)
def test_origin_and_graph_resolve_the_same_url_variants(world: Path, published: str, asked: str) -> None:
    import json

    code, out, err = run(world, "origin", "--format", "json", asked)
    assert code == 0, err
    queried = [row for row in map(json.loads, out.decode().splitlines()) if row["queried"]]
    assert [row["url"] for row in queried] == [published]
    code, out, err = run(world, "graph", "--format", "dot", asked)
    assert code == 0, err
    focus = f's{queried[0]["story_id"]}i{queried[0]["item_id"]}'
    node = next(n for n in parse_dot(out.decode()).get_nodes() if n.get_name().strip('"') == focus)
    # The asked article is the picture's focus (the original is framed as the original instead).
    assert published == ORIGINAL_URL or node.get("fillcolor").strip('"') == graph_module._FOCUS_FILL


def test_the_store_names_the_disproved_claims_the_picture_marks(any_db_url: str) -> None:
    from tracker.store import views

    build_world(any_db_url)
    with open_database(any_db_url)() as session:
        story = story_of(session, BACKDATED_URL)
        marked = {i.item_id for i in story.items if i.claim_disproved}
        everything = [i.item_id for i in story_of(session, ORIGINAL_URL).items] + [i.item_id for i in story.items]
        assert marked and views.disproved_claims(session, everything) == marked


def test_disproved_is_read_from_the_times_alike_by_origin_picture_and_store(any_db_url: str) -> None:
    # Evidence worded otherwise (another version's words): the claimed date earlier than the
    # credible time still says "disproved", in `origin`, the picture and the demo's store query.
    import sqlalchemy as sa

    from tracker.answers.summaries import origin_report
    from tracker.store import views

    build_world(any_db_url)
    sessions = open_database(any_db_url)
    with sessions() as session, session.begin():
        session.execute(sa.text("UPDATE provenance SET evidence = REPLACE(evidence, 'disproved', 'refuted')"))
    with sessions() as session:
        story = story_of(session, BACKDATED_URL)
        marked = {i.item_id for i in story.items if i.claim_disproved}
        assert marked == views.disproved_claims(session, [i.item_id for i in story.items]) == {story.focus_item_id}
    told = origin_report(sessions, BACKDATED_URL).splitlines()
    here = next(i for i, line in enumerate(told) if line.endswith("← this article"))
    assert "its claimed date was disproved" in told[here + 1]
    assert "disproved" not in " ".join(told[:here])  # the original's date stands


def test_a_claim_after_the_first_sighting_is_said_but_not_disproved() -> None:
    from datetime import datetime

    from tracker.answers.summaries import _time_note
    from tracker.store.pictures import StoryItem

    seen = datetime(2025, 1, 7, 8)
    item = StoryItem(item_id=2, url="https://x.example/2", title="t", publisher="X", published_at=datetime(2025, 1, 7, 13),
                     first_seen_at=seen, estimated_published_at=seen, parent_item_id=1, relation="copy", similarity=1.0,
                     containment=1.0, lag_seconds=600, attributed_origin=None, time_evidence="")
    assert not item.claim_disproved and item.claim_after_sighting
    assert ("", "claimed 2025-01-07 13:00:00Z: after first sighting") in graph_module.node_lines(item)
    assert all(style != "warn" for style, _ in graph_module.node_lines(item))
    row = {"published_at": item.published_at, "estimated_published_at": seen, "lag_seconds": 600, "evidence": {}}
    assert _time_note(row) == "its claimed date is after it was first seen; dated by first sighting"
    earlier = replace(item, published_at=datetime(2025, 1, 7, 3))
    assert earlier.claim_disproved and ("warn", "claimed 2025-01-07 03:00:00Z: disproved") in graph_module.node_lines(earlier)
    assert _time_note({**row, "published_at": earlier.published_at}).startswith("its claimed date was disproved")
