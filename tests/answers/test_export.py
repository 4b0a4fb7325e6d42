"""`tracker export`: PROV-JSON read back with the `prov` package, PROV-N, and flat rows, against the views."""

from __future__ import annotations

import csv
import errno
import io
import json
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from prov.model import (
    PROV,
    ProvAttribution,
    ProvDerivation,
    ProvDocument,
    ProvGeneration,
)

from tests import story_network
from tracker.cli import main


@pytest.fixture
def desk(tmp_path: Path, any_db_url: str) -> tuple[Path, str]:
    story_network.build(any_db_url)
    return story_network.config_file(tmp_path / "tracker.toml", any_db_url), any_db_url


def run(config: Path, *args: str) -> str:
    result = CliRunner().invoke(main, ["--config", str(config), "export", *args])
    assert result.exit_code == 0, result.stderr
    return result.stdout


def items(url: str) -> dict[int, dict]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = {r["item_id"]: dict(r) for r in conn.execute(sa.text("SELECT * FROM item_provenance")).mappings()}
    engine.dispose()
    return rows


def is_primary_source(record: ProvDerivation) -> bool:
    """hadPrimarySource is a derivation typed prov:PrimarySource."""
    return PROV["PrimarySource"] in record.get_asserted_types()


def local(qualified_name: object) -> str:
    return str(qualified_name).split(":", 1)[1]


def test_an_export_onto_a_full_disk_fails_as_the_disk_does_and_leaves_nothing_half_written(
    desk: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    config, _ = desk
    out = tmp_path / "provenance.json"

    def write_bytes(self: Path, data: bytes) -> int:
        self.write_text("{")  # part of it, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    result = CliRunner().invoke(main, ["--config", str(config), "export", "--format", "prov-json", "--out", str(out)])
    assert result.exit_code == 3
    assert result.stderr.strip() == f"tracker: error: cannot write {out} (No space left on device)"
    assert not out.exists() and not out.with_name(out.name + ".tmp").exists()


def test_prov_json_reads_back_with_every_relation_of_the_views(desk: tuple[Path, str], tmp_path: Path) -> None:
    config, url = desk
    out = tmp_path / "provenance.json"
    CliRunner().invoke(main, ["--config", str(config), "export", "--format", "prov-json", "--out", str(out)])
    doc = ProvDocument.deserialize(source=str(out), format="json")
    stored = items(url)

    entities = {local(e.identifier): e for e in doc.get_records() if e.get_type().localpart == "Entity"}
    assert set(entities) == {str(i) for i in stored}
    for item_id, row in stored.items():
        attrs = {str(k): v for k, v in entities[str(item_id)].attributes}
        assert attrs["prov:label"] == row["title"]
        assert str(attrs["prov:location"]) == row["url"]
        assert attrs["tracker:relation"] == row["relation"]

    derived = {(local(r.args[0]), local(r.args[1])) for r in doc.get_records(ProvDerivation) if not is_primary_source(r)}
    assert derived == {(str(i), str(r["parent_item_id"])) for i, r in stored.items() if r["parent_item_id"] is not None}
    primary = {(local(r.args[0]), local(r.args[1])) for r in doc.get_records(ProvDerivation) if is_primary_source(r)}
    assert primary == {(str(i), str(r["original_item_id"])) for i, r in stored.items() if r["parent_item_id"] is not None}
    agents = {local(a.identifier): {str(k): v for k, v in a.attributes}["prov:label"]
              for a in doc.get_records() if a.get_type().localpart == "Agent"}
    attributed = {local(r.args[0]): agents[local(r.args[1])] for r in doc.get_records(ProvAttribution)}
    assert attributed == {str(i): r["publisher"] for i, r in stored.items()}
    generated = {local(r.args[0]): r.args[2] for r in doc.get_records(ProvGeneration)}
    for item_id, row in stored.items():
        expected = row["estimated_published_at"]
        expected = expected if not isinstance(expected, str) else datetime.fromisoformat(expected)
        assert generated[str(item_id)].replace(tzinfo=None) == expected


def test_since_keeps_what_later_copies_point_to(desk: tuple[Path, str]) -> None:
    config, url = desk
    doc = ProvDocument.deserialize(content=run(config, "--format", "prov-json", "--since", "2025-01-08T00:00Z"), format="json")
    entities = {local(e.identifier) for e in doc.get_records() if e.get_type().localpart == "Entity"}
    stored = items(url)
    # Story 1's mirror-of-mirror copy (01-08 02:00) is in; so are its parent (ru24) and original (Khaama, 01-07).
    late = next(i for i, r in stored.items() if r["url"] == "https://mirrorofmirrors.example/1.html")
    assert {str(late), str(stored[late]["parent_item_id"]), str(stored[late]["original_item_id"])} <= entities
    assert str(next(i for i, r in stored.items() if r["url"] == story_network.story_url(0))) not in entities
    for relation in doc.get_records(ProvDerivation):
        assert local(relation.args[0]) in entities and local(relation.args[1]) in entities


def test_prov_n_names_the_relations(desk: tuple[Path, str]) -> None:
    config, _ = desk
    text = run(config, "--format", "prov-n")
    assert text.startswith("document") and text.rstrip().endswith("endDocument")
    for term in ("entity(item:", "agent(publisher:", "wasDerivedFrom(", "wasAttributedTo(", "wasGeneratedBy(",
                 "prov:type='prov:PrimarySource'"):  # PROV-N writes hadPrimarySource as a typed derivation
        assert term in text


def test_jsonl_and_csv_are_the_item_provenance_rows(desk: tuple[Path, str]) -> None:
    config, url = desk
    stored = items(url)
    rows = [json.loads(line) for line in run(config, "--format", "jsonl").splitlines()]
    assert {r["item_id"] for r in rows} == set(stored)
    for row in rows:
        assert row["evidence"] == json.loads(stored[row["item_id"]]["evidence"])
        assert (row["url"], row["parent_item_id"], row["relation"]) == (
            stored[row["item_id"]]["url"], stored[row["item_id"]]["parent_item_id"], stored[row["item_id"]]["relation"])
    table = list(csv.DictReader(io.StringIO(run(config, "--format", "csv"))))
    assert [int(r["item_id"]) for r in table] == [r["item_id"] for r in rows]
    assert list(table[0]) == list(rows[0])


def test_the_cli_offers_exactly_the_formats_export_writes(desk: tuple[Path, str]) -> None:
    from tracker.errors import TrackerError
    from tracker.answers.export import export
    from tracker.answers.output import EXPORT_FORMATS
    from tracker.store.database import open_database

    config, url = desk
    for fmt in EXPORT_FORMATS:
        assert run(config, "--format", fmt).strip()
    refused = CliRunner().invoke(main, ["--config", str(config), "export", "--format", "xml"])
    assert refused.exit_code == 2 and all(fmt in refused.stderr for fmt in EXPORT_FORMATS)
    with pytest.raises(TrackerError, match="unknown format"):
        export(open_database(url), "xml")
