"""config/datasette.yml: Datasette serves the tracker's SQLite database and every canned query answers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import story_network

METADATA = Path(__file__).resolve().parents[2] / "config" / "datasette.yml"
DATASETTE = Path(sys.executable).with_name("datasette")
HOUR = 3600


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def datasette(tmp_path: Path) -> Iterator[str]:
    """Datasette on a free 127.0.0.1 port, serving the four-story network as db/tracker.sqlite3 with the metadata."""
    database = tmp_path / "db" / "tracker.sqlite3"
    story_network.build(f"sqlite:///{database}")
    yield from _serve(database)


def _serve(database: Path) -> Iterator[str]:
    if not DATASETTE.exists():
        if os.environ.get("TRACKER_REQUIRE_SERVICES") == "1":
            pytest.fail("datasette not installed (pip install -e '.[test]')")
        pytest.skip("datasette not installed")
    port = _free_port()
    process = subprocess.Popen(
        [str(DATASETTE), "serve", str(database), "-m", str(METADATA), "-h", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base + "/-/versions.json", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                output = process.stdout.read().decode() if process.poll() is not None and process.stdout else ""
                pytest.fail(f"datasette did not start: {output}")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        if process.stdout:
            process.stdout.close()


PARAMS = {
    "story_chain": {"url": "https://mirrorofmirrors.example/0.html"},
    "copies_of_publisher": {"publisher": "Khaama Press"},
    "fastest_copiers": {},
    "most_copied_stories": {},
}


def query(base: str, name: str) -> list[dict]:
    response = httpx.get(f"{base}/tracker/{name}.json", params={**PARAMS[name], "_shape": "array"}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def test_every_canned_query_answers_as_json(datasette: str) -> None:
    yaml = pytest.importorskip("yaml")  # comes with datasette
    canned = yaml.safe_load(METADATA.read_text())["databases"]["tracker"]["queries"]
    assert set(canned) == set(PARAMS), "a canned query without a test, or a test without its query"
    for name in canned:
        assert query(datasette, name), f"{name} returned no rows"


def test_story_chain_is_the_tree_from_the_original(datasette: str) -> None:
    rows = query(datasette, "story_chain")
    assert [(r["depth"], r["publisher"]) for r in rows] == [
        (0, "Khaama Press"), (1, "ru24.pro"), (1, "Headline Digest"), (2, "Mirror of Mirrors")]
    assert rows[0]["url"] == story_network.story_url(0) and rows[0]["parent_item_id"] is None
    assert rows[3]["parent_item_id"] == rows[1]["item_id"]


def test_copies_of_publisher_and_fastest_copiers(datasette: str) -> None:
    copies = {r["republisher"]: r for r in query(datasette, "copies_of_publisher")}
    assert {k: (v["copies"], v["direct"]) for k, v in copies.items()} == {
        "ru24.pro": (4, 4), "Headline Digest": (2, 2), "Mirror of Mirrors": (2, 0)}
    assert copies["ru24.pro"]["avg_hours_after"] == pytest.approx((2 + 2.5 + 3 + 6) / 4, abs=0.01)
    assert copies["ru24.pro"]["fastest_hours"] == pytest.approx(2.0, abs=0.01)
    fastest = query(datasette, "fastest_copiers")
    assert [(r["copier"], r["source"]) for r in fastest][:1] == [("Mirror of Mirrors", "ru24.pro")]  # 2.75 h on average
    assert {(r["copier"], r["source"]): r["copies"] for r in fastest} == {
        ("ru24.pro", "Khaama Press"): 4, ("Headline Digest", "Khaama Press"): 2, ("Mirror of Mirrors", "ru24.pro"): 2}


def test_readme_example_answers_on_the_sample_database(tmp_path: Path) -> None:
    """README's Datasette example, after the quick start: db/sample.sqlite3 is "sample", with the canned queries."""
    import re

    from click.testing import CliRunner

    from tests.test_sample import DOCS, SAMPLE
    from tracker.cli import main

    config = tmp_path / "tracker.toml"
    config.write_text('[database]\nurl = "sqlite:///db/sample.sqlite3"\n')
    assert CliRunner().invoke(main, ["--config", str(config), "ingest", str(SAMPLE)]).exit_code == 0
    examples = re.findall(r"# (?:then|or, as JSON:) (http://127\.0\.0\.1:8001/\S+)", DOCS)
    assert len(examples) == 2
    serving = _serve(tmp_path / "db" / "sample.sqlite3")
    base = next(serving)
    try:
        for example in examples:
            path = example.removeprefix("http://127.0.0.1:8001")
            as_json = path if ".json?" in path else path.replace("?", ".json?", 1) + "&_shape=array"  # the page's rows, as JSON
            response = httpx.get(base + as_json, timeout=10)
            assert response.status_code == 200 and response.json(), (example, response.text[:300])
    finally:
        serving.close()
