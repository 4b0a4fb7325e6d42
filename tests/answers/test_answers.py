"""The query commands (`stories`, `copies`, `publishers`, `find`, `origin`, `stats`) in every format,
read back and compared with the public views, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from tests import story_network
from tests.story_network import mirror_url, story_url
from tracker.answers.questions import parse_when
from tracker.cli import main
from tracker.errors import InputError

HOUR = 3600.0


@pytest.fixture
def desk(tmp_path: Path, any_db_url: str) -> tuple[Path, str]:
    """A config on a database holding the four-story network."""
    story_network.build(any_db_url)
    return story_network.config_file(tmp_path / "tracker.toml", any_db_url), any_db_url


def run(config: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--config", str(config), *args])
    return result.exit_code, result.stdout, result.stderr


def json_rows(config: Path, *args: str) -> list[dict[str, Any]]:
    code, out, err = run(config, *args, "--format", "json")
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines()]


def csv_rows(config: Path, *args: str) -> list[dict[str, str]]:
    code, out, err = run(config, *args, "--format", "csv")
    assert code == 0, err
    return list(csv.DictReader(io.StringIO(out)))


def _iso(value: Any) -> Any:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        return value.replace(microsecond=0).isoformat() + "Z"
    return value


def view(url: str, sql: str, **params: Any) -> list[dict[str, Any]]:
    """Rows straight from the views, times as the commands print them."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(sa.text(sql), params).mappings()]
    finally:
        engine.dispose()
    for row in rows:
        for key, value in row.items():
            row[key] = _iso(value) if key.endswith("_at") else value
    return rows


def as_csv(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


# -- stories ---------------------------------------------------------------------------------
def test_stories_json_and_csv_are_the_view_rows_newest_first(desk: tuple[Path, str]) -> None:
    config, url = desk
    expected = view(url, "SELECT * FROM stories ORDER BY published_at DESC")
    rows = json_rows(config, "stories")
    assert [r["original_url"] for r in rows] == [story_url(k) for k in (3, 2, 1, 0)]
    assert rows == [{k: e[k] for k in rows[0]} for e in expected]
    assert list(rows[0]) == ["story_id", "original_item_id", "original_url", "title", "publisher", "published_at",
                             "attributed_origin", "copies", "publishers", "first_seen_at", "last_seen_at"]
    assert [(r["copies"], r["publishers"]) for r in rows] == [(1, 2), (2, 3), (2, 3), (3, 4)]
    assert csv_rows(config, "stories") == [{k: as_csv(v) for k, v in r.items()} for r in rows]


def test_stories_filters(desk: tuple[Path, str]) -> None:
    config, _ = desk
    assert [r["original_url"] for r in json_rows(config, "stories", "--min-copies", "3")] == [story_url(0)]
    # Since the second day (T0 + 24 h), until its end: stories 2 and 3 are on that day.
    assert [r["original_url"] for r in json_rows(config, "stories", "--since", "2025-01-08T00:00Z", "--until", "2025-01-09")] == [
        story_url(3), story_url(2)]
    assert [r["original_url"] for r in json_rows(config, "stories", "--limit", "1")] == [story_url(3)]
    assert len(json_rows(config, "stories", "--publisher", "khaama PRESS")) == 4
    assert json_rows(config, "stories", "--publisher", "ru24.pro") == []  # it originates nothing
    code, _, err = run(config, "stories", "--publisher", "Khama Press")
    assert code == 2 and "no publisher named 'Khama Press' (did you mean 'Khaama Press'?)" in err
    code, _, err = run(config, "stories", "--since", "last tuesday")
    assert code == 2 and err.startswith("tracker: error: --since: not a time")


def test_parse_when_reads_times_and_spans_back_from_now() -> None:
    now = datetime(2026, 1, 10, 12, 0)
    assert parse_when("36h", now) == datetime(2026, 1, 9, 0, 0)
    assert parse_when("2w", now) == datetime(2025, 12, 27, 12, 0)
    assert parse_when("90m", now) == datetime(2026, 1, 10, 10, 30)
    assert parse_when("1.5d", now) == datetime(2026, 1, 9, 0, 0)
    assert parse_when("2025-01-07", now) == datetime(2025, 1, 7)
    assert parse_when("2025-01-07T09:30:00+02:00", now) == datetime(2025, 1, 7, 7, 30)
    with pytest.raises(InputError):
        parse_when("soon", now)


def test_a_query_may_name_any_time_not_only_those_a_capture_may_have() -> None:
    """Captures are bounded (after 1991, not in the future); what a query asks about is not."""
    assert parse_when("1970-01-01") == datetime(1970, 1, 1)
    assert parse_when("0001-01-01") == datetime(1, 1, 1)
    assert parse_when("2999-12-31T23:00Z") == datetime(2999, 12, 31, 23, 0)
    with pytest.raises(InputError, match="not a time"):
        parse_when("0001-01-01T00:00+05:00")  # before the year 1 in UTC


def test_stories_table(desk: tuple[Path, str]) -> None:
    config, _ = desk
    code, out, _ = run(config, "stories", "--min-copies", "2")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["published", "publisher", "copies", "publishers", "title", "url"]
    assert "Torkham crossing reopens to trade" in out and story_url(0) in out and len(lines) == 4


# -- copies ----------------------------------------------------------------------------------
def test_copies_counts_delays_and_containment_per_republisher(desk: tuple[Path, str]) -> None:
    config, url = desk
    rows = {r["publisher"]: r for r in json_rows(config, "copies", "Khaama Press")}
    assert list(rows) == ["ru24.pro", "Headline Digest", "Mirror of Mirrors"]  # most copies first
    per_copier = view(url, "SELECT r.copy_publisher AS p, COUNT(*) AS n FROM republications r "
                           "JOIN item_provenance o ON o.item_id = r.original_item_id "
                           "WHERE o.publisher = 'Khaama Press' GROUP BY r.copy_publisher")
    assert {r["p"]: r["n"] for r in per_copier} == {p: r["copies"] for p, r in rows.items()}
    ru24 = rows["ru24.pro"]
    assert (ru24["copies"], ru24["direct_copies"], ru24["stories"]) == (4, 4, 4)
    # Delays 2, 2.5, 3 and 6 hours after the original.
    assert ru24["median_delay_seconds"] == pytest.approx(2.75 * HOUR)
    assert ru24["p90_delay_seconds"] == pytest.approx(18360.0)  # 3 h + 0.7 × (6 h − 3 h)
    assert ru24["median_containment"] == pytest.approx(1.0)
    mirror = rows["Mirror of Mirrors"]
    assert (mirror["copies"], mirror["direct_copies"]) == (2, 0)  # copies of ru24's copies
    assert mirror["median_delay_seconds"] == pytest.approx(5 * HOUR) == mirror["p90_delay_seconds"]
    assert rows["Headline Digest"]["median_delay_seconds"] == pytest.approx(3 * HOUR)

    since = {r["publisher"]: r["copies"] for r in json_rows(config, "copies", "Khaama Press", "--since", "2025-01-08T00:00Z")}
    # Story 1's copy by Mirror of Mirrors (2025-01-08 02:00) is after too.
    assert since == {"ru24.pro": 2, "Headline Digest": 1, "Mirror of Mirrors": 1}
    assert csv_rows(config, "copies", "khaama press") == [{k: as_csv(v) for k, v in r.items()} for r in rows.values()]
    code, out, _ = run(config, "copies", "Khaama Press")
    assert code == 0 and out.splitlines()[1].split()[:7] == ["ru24.pro", "4", "4", "2h", "45m", "5h", "6m"]
    code, out, _ = run(config, "copies", "Mirror of Mirrors")
    assert code == 0 and out.strip() == "nobody republishes Mirror of Mirrors"


# -- publishers ------------------------------------------------------------------------------
def test_publishers_one_row_per_copier_source_pair(desk: tuple[Path, str]) -> None:
    config, url = desk
    rows = json_rows(config, "publishers")
    pairs = {(r["copier"], r["source"]): r for r in rows}
    edges = view(url, "SELECT copy_publisher AS c, parent_publisher AS s, COUNT(*) AS n FROM republications GROUP BY copy_publisher, parent_publisher")
    assert {(e["c"], e["s"]): e["n"] for e in edges} == {k: r["copies"] for k, r in pairs.items()}
    assert set(pairs) == {("ru24.pro", "Khaama Press"), ("Headline Digest", "Khaama Press"), ("Mirror of Mirrors", "ru24.pro")}
    mirror = pairs[("Mirror of Mirrors", "ru24.pro")]
    assert mirror["median_delay_seconds"] == pytest.approx(2.75 * HOUR)  # 5 h − 2 h and 5 h − 2.5 h after ru24
    assert (mirror["copier_items"], mirror["share_of_copier_items"]) == (2, 1.0)
    assert pairs[("ru24.pro", "Khaama Press")]["median_delay_seconds"] == pytest.approx(2.75 * HOUR)
    later = {(r["copier"], r["source"]): r for r in json_rows(config, "publishers", "--since", "2025-01-08T00:00Z")}
    assert later[("ru24.pro", "Khaama Press")]["copies"] == 2 and later[("Mirror of Mirrors", "ru24.pro")]["copies"] == 1
    assert csv_rows(config, "publishers") == [{k: as_csv(v) for k, v in r.items()} for r in rows]
    code, out, _ = run(config, "publishers")
    assert code == 0 and out.splitlines()[0].split() == ["copier", "copies", "from", "copies", "median", "delay", "of", "its", "items"]


# -- find ------------------------------------------------------------------------------------
def test_find_matches_every_word_in_any_case_and_script_newest_first(desk: tuple[Path, str]) -> None:
    config, url = desk
    rows = json_rows(config, "find", "КАБУЛ", "школы")
    assert {r["url"] for r in rows} == {"https://headlinedigest.example/2.html", mirror_url(2), story_url(2)}
    assert rows[-1]["url"] == story_url(2)  # the original is the oldest
    expected = {r["item_id"]: r for r in view(url, "SELECT * FROM item_provenance WHERE story_id = :s", s=rows[0]["story_id"])}
    for row in rows:
        assert row == {**expected[row["item_id"]], "evidence": json.loads(expected[row["item_id"]]["evidence"])}
    times = [r["estimated_published_at"] for r in rows]
    assert times == sorted(times, reverse=True)
    assert {r["url"] for r in json_rows(config, "find", "torkham")} == {
        story_url(0), mirror_url(0), "https://headlinedigest.example/0.html", "https://mirrorofmirrors.example/0.html"}
    assert json_rows(config, "find", "torkham", "wheat") == []
    assert len(json_rows(config, "find", "the", "--limit", "2")) <= 2
    csv_back = csv_rows(config, "find", "кабул")
    assert [r["url"] for r in csv_back] == [r["url"] for r in rows]
    assert json.loads(csv_back[0]["evidence"]) == rows[0]["evidence"]
    code, out, _ = run(config, "find", "nothing-like-this")
    assert code == 0 and out.strip() == "no item has those words in its title"


# -- origin ----------------------------------------------------------------------------------
def test_origin_json_is_the_whole_tree_with_evidence(desk: tuple[Path, str]) -> None:
    config, url = desk
    rows = json_rows(config, "origin", "https://mirrorofmirrors.example/0.html")
    story = {r["item_id"]: r for r in view(url, "SELECT * FROM item_provenance WHERE url = :u", u=story_url(0))}
    story_id = next(iter(story))
    expected = {r["item_id"]: r for r in view(url, "SELECT * FROM item_provenance WHERE story_id = :s", s=story_id)}
    assert {r["item_id"] for r in rows} == set(expected)
    for row in rows:
        base = {k: v for k, v in row.items() if k not in ("depth", "in_chain", "queried")}
        assert base == {**expected[row["item_id"]], "evidence": json.loads(expected[row["item_id"]]["evidence"])}
    by_url = {r["url"]: r for r in rows}
    assert rows[0]["url"] == story_url(0) and rows[0]["depth"] == 0
    assert by_url[mirror_url(0)]["depth"] == 1 and by_url["https://mirrorofmirrors.example/0.html"]["depth"] == 2
    assert {u for u, r in by_url.items() if r["in_chain"]} == {story_url(0), mirror_url(0), "https://mirrorofmirrors.example/0.html"}
    assert [u for u, r in by_url.items() if r["queried"]] == ["https://mirrorofmirrors.example/0.html"]
    assert by_url[mirror_url(0)]["evidence"]["credits"] == ["footer: Khaama Press"]
    # Depth first: every item comes after its parent.
    order = [r["item_id"] for r in rows]
    assert all(order.index(r["parent_item_id"]) < order.index(r["item_id"]) for r in rows if r["parent_item_id"])
    back = csv_rows(config, "origin", "https://mirrorofmirrors.example/0.html")
    assert [r["url"] for r in back] == [r["url"] for r in rows]
    assert [r["in_chain"] for r in back] == [as_csv(r["in_chain"]) for r in rows]


# -- stats -----------------------------------------------------------------------------------
def test_stats_json_and_csv(desk: tuple[Path, str]) -> None:
    config, url = desk
    rows = {r["publisher"]: r for r in json_rows(config, "stats")}
    counts = view(url, "SELECT publisher, COUNT(*) AS n, SUM(CASE WHEN parent_item_id IS NULL THEN 1 ELSE 0 END) AS o "
                       "FROM item_provenance GROUP BY publisher")
    assert {c["publisher"]: (c["n"], c["o"]) for c in counts} == {p: (r["items"], r["originals"]) for p, r in rows.items()}
    assert rows["Khaama Press"] == {"publisher": "Khaama Press", "items": 4, "originals": 4, "copies": 0,
                                    "copied_by_others": 8, "copied_by_publishers": 3}
    assert csv_rows(config, "stats") == [{k: as_csv(v) for k, v in r.items()} for r in rows.values()]
