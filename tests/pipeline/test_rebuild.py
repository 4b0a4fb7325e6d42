"""The detection state lives in SQL: a restart reads nothing back, an upgrade builds it once."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from tests.builders import T0, Item, article, capture, hours, rss
from tests.conftest import make_pipeline
from tests.pipeline.test_pipeline import (
    FEEDS,
    KHAAMA,
    MIRRORS,
    ORIGINAL_URL,
    TITLE,
    khaama_item,
    network,
    provenance,
)
from tracker.detection.normalise import TEXT_RULES, document_from_paragraphs
from tracker.errors import ConfigError
from tracker.provenance.decide import PROVENANCE_RULES_VERSION
from tracker.store import buckets, state


def boilerplate_network() -> list:  # type: ignore[type-arg]
    """The usual network, plus Khaama items that share a disclaimer (it becomes boilerplate)."""
    disclaimer = "The opinions expressed here are the authors' own and not those of the agency, which takes no position."
    extra = [Item(f"Story {n}", f"https://www.khaama.com/s{n}/", [*article(60 + n, paragraphs=4), disclaimer], T0 + hours(n)) for n in range(4)]
    return [*network(article(5, paragraphs=8)), capture(KHAAMA, T0 + hours(6), rss("Khaama Press", "https://www.khaama.com/", extra))]


def state_of(url: str) -> dict[str, object]:
    """Everything detection keeps, as comparable values."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        found = {
            "fingerprints": conn.execute(sa.text(
                "SELECT id, story_shingles, full_shingles, lead_signature, paragraph_keys, signature, full_count "
                "FROM item_versions ORDER BY id")).all(),
            "buckets": buckets.index_rows(Session(conn)),  # both tiers
            "paragraphs": set(conn.execute(sa.text("SELECT publisher_id, key, item_count FROM paragraph_counts")).all()),
            "boilerplate": conn.execute(sa.text("SELECT COUNT(*) FROM paragraph_counts WHERE item_count >= 3")).scalar_one(),
            "provenance": conn.execute(sa.text("SELECT item_id, story_id, parent_item_id, relation FROM provenance ORDER BY item_id")).all(),
        }
    engine.dispose()
    return found


def test_a_restart_reads_no_text_and_fingerprints_nothing(any_db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    make_pipeline(any_db_url, FEEDS).ingest(boilerplate_network())
    before = state_of(any_db_url)
    assert before["boilerplate"] and before["buckets"]
    # Texts and fingerprints are off limits at start-up: either would fail the test.
    monkeypatch.setattr("tracker.pipeline.rebuild.document_from_paragraphs", lambda *_a, **_k: pytest.fail("a text was read"))
    monkeypatch.setattr("tracker.detection.fingerprint.Fingerprinter.fingerprint", lambda *_a, **_k: pytest.fail("a text was fingerprinted"))
    make_pipeline(any_db_url, FEEDS)
    assert state_of(any_db_url) == before


def test_an_upgraded_database_gets_its_detection_state_built_once(any_db_url: str) -> None:
    make_pipeline(any_db_url, FEEDS).ingest(boilerplate_network())
    written = state_of(any_db_url)
    engine = sa.create_engine(any_db_url)
    with engine.begin() as conn:  # as a database of revision 0006 has it: no state, some versions without fingerprints
        conn.execute(sa.text("UPDATE item_versions SET story_shingles = NULL, full_shingles = NULL, lead_signature = NULL, "
                             "paragraph_keys = NULL, full_count = NULL WHERE id % 2 = 0"))
        conn.execute(sa.text("UPDATE item_versions SET full_count = NULL"))
        for table in ("lsh_buckets", "lsh_recent", "paragraph_counts", "tracker_meta"):
            conn.execute(sa.text(f"DELETE FROM {table}"))
    make_pipeline(any_db_url, FEEDS)
    assert state_of(any_db_url) == written
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT value FROM tracker_meta WHERE name = 'detection_settings'")).scalar_one()
    engine.dispose()


def test_other_detection_settings_build_the_state_again(sqlite_url: str) -> None:
    make_pipeline(sqlite_url, FEEDS).ingest(network(article(6, paragraphs=8)))
    before = state_of(sqlite_url)
    make_pipeline(sqlite_url, FEEDS, shingle_size=4, lsh_bands=32, lsh_rows=4)
    after = state_of(sqlite_url)
    engine = sa.create_engine(sqlite_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT DISTINCT shingle_size FROM item_versions")).scalars().all() == [4]
    engine.dispose()
    assert after["buckets"] and after["buckets"] != before["buckets"]
    assert len({item for _, item in after["buckets"]}) == len({item for _, item in before["buckets"]})


@pytest.mark.parametrize(("built", "now"), [(3, 2), (2, 3)])
def test_another_boilerplate_threshold_cleans_the_stories_again(tmp_path, built: int, now: int) -> None:  # type: ignore[no-untyped-def]
    # A paragraph on 2 items is boilerplate under 2 and not under 3: the stories holding it
    # must be fingerprinted as a fresh database with the new threshold has them.
    changed, fresh = (f"sqlite:///{tmp_path / name}.sqlite3" for name in ("changed", "fresh"))
    disclaimer = "This article is provided for information only and does not constitute advice of any kind from the agency."
    extra = [Item(f"Story {n}", f"https://www.khaama.com/s{n}/", [*article(70 + n, paragraphs=4), disclaimer], T0 + hours(n)) for n in range(2)]
    captures = [capture(KHAAMA, T0 + hours(6), rss("Khaama Press", "https://www.khaama.com/", extra))]
    make_pipeline(changed, FEEDS, boilerplate_min_items=built).ingest(captures)
    make_pipeline(changed, FEEDS, boilerplate_min_items=now)
    make_pipeline(fresh, FEEDS, boilerplate_min_items=now).ingest(captures)
    engine = sa.create_engine(changed)
    with engine.connect() as conn:
        stories = conn.execute(sa.text("SELECT story_text FROM item_versions")).scalars().all()
    engine.dispose()
    assert len(stories) == 2 and all(("constitute advice" in s) == (now > 2) for s in stories)
    for part in ("fingerprints", "buckets", "paragraphs"):
        assert state_of(changed)[part] == state_of(fresh)[part], part


def test_a_process_whose_settings_were_rebuilt_away_refuses_to_write(any_db_url: str) -> None:
    # A daemon runs with one config; an ingest started with edited [detection] settings
    # builds the state again. The daemon must not go on adding fingerprints of the old settings.
    captures = network(article(6, paragraphs=8))
    running = make_pipeline(any_db_url, FEEDS)
    running.ingest(captures[:2])
    make_pipeline(any_db_url, FEEDS, shingle_size=4)
    with pytest.raises(ConfigError, match="other \\[detection\\] settings"):
        running.ingest(captures[2:])
    engine = sa.create_engine(any_db_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT DISTINCT shingle_size FROM item_versions")).scalars().all() == [4]
    engine.dispose()
    # Started again with the settings the state has, it writes.
    assert make_pipeline(any_db_url, FEEDS, shingle_size=4).ingest(captures[2:]).captures == len(captures) - 2


def _matches(url: str) -> list[tuple[int, int, float, float]]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT item_a, item_b, jaccard, a_in_b FROM matches ORDER BY item_a, item_b")).all()
    engine.dispose()
    return [(a, b, round(j, 6), round(c, 6)) for a, b, j, c in rows]


def test_other_detection_settings_find_the_matches_a_fresh_database_finds(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Matches verified on 5-word shingles stayed when the settings said 4: a rebuilt
    # database must hold what one built with the new settings from the start holds.
    changed, fresh = (f"sqlite:///{tmp_path / name}.sqlite3" for name in ("changed", "fresh"))
    captures = boilerplate_network()
    make_pipeline(changed, FEEDS).ingest(captures)
    before = _matches(changed)
    make_pipeline(changed, FEEDS, shingle_size=4, lsh_bands=32, lsh_rows=4)
    make_pipeline(fresh, FEEDS, shingle_size=4, lsh_bands=32, lsh_rows=4).ingest(captures)
    assert before and _matches(fresh) != before
    assert _matches(changed) == _matches(fresh)
    assert state_of(changed)["provenance"] == state_of(fresh)["provenance"]


def test_another_claim_tolerance_decides_the_stored_stories_again(tmp_path, any_db_url: str) -> None:  # type: ignore[no-untyped-def]
    # ru24.pro's copy claims a date 5 h before the original, and an earlier capture of its
    # feed disproves that by 2 h: within a tolerance of 6 h the claim stands, and the copy is
    # the original. Decided with 15 min, the stored stories must follow the new tolerance.
    from tests.story_world import world_captures

    fresh = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    make_pipeline(any_db_url, FEEDS).ingest(world_captures())
    before = state_of(any_db_url)
    make_pipeline(any_db_url, FEEDS, claim_tolerance_seconds=6 * 3600)
    make_pipeline(fresh, FEEDS, claim_tolerance_seconds=6 * 3600).ingest(world_captures())
    assert state_of(fresh)["provenance"] != before["provenance"]
    assert state_of(any_db_url)["provenance"] == state_of(fresh)["provenance"]
    assert state_of(any_db_url)["fingerprints"] == before["fingerprints"]  # nothing fingerprinted again


def test_new_provenance_rules_decide_the_stored_stories_again(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    make_pipeline(sqlite_url, FEEDS).ingest(network(article(6, paragraphs=8)))
    decided = state_of(sqlite_url)["provenance"]
    assert any(parent is not None for _, _, parent, _ in decided)
    engine = sa.create_engine(sqlite_url)
    with engine.begin() as conn:  # as rules that found no copies would have left them
        conn.execute(sa.text("UPDATE provenance SET story_id = item_id, parent_item_id = NULL, relation = 'original'"))
    engine.dispose()
    forgotten = state_of(sqlite_url)["provenance"]
    make_pipeline(sqlite_url, FEEDS)
    assert state_of(sqlite_url)["provenance"] == forgotten  # the same rules: nothing decided again
    monkeypatch.setattr("tracker.provenance.decide.PROVENANCE_RULES_VERSION", PROVENANCE_RULES_VERSION + 1)
    make_pipeline(sqlite_url, FEEDS)
    assert state_of(sqlite_url)["provenance"] == decided


def test_new_text_rules_fingerprint_again_only_the_texts_they_read_differently(tmp_path, any_db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    # A database fingerprinted before look-alike letters were read as Latin ones (text rules
    # 1): a scraper's copy spelt with Cyrillic look-alikes was no copy there. The first
    # start of these rules fingerprints that copy (and ru24's Cyrillic chrome) again, finds
    # the copy, and holds what a database ingested by these rules holds.
    from tests.pipeline.test_pipeline import in_lookalikes

    upgraded, fresh = any_db_url, f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    paragraphs = article(8, paragraphs=6)
    scraper = Item(TITLE, "https://mirrorofmirrors.example/k.html", [in_lookalikes(p) for p in paragraphs], T0 + hours(5))
    captures = [*network(paragraphs), capture(MIRRORS, T0 + hours(5.5), rss("Mirror of Mirrors", "https://mirrorofmirrors.example/", [scraper]))]
    with monkeypatch.context() as old:
        old.setattr("tracker.detection.normalise.comparable", lambda folded: folded)
        old.setattr("tracker.pipeline.rebuild.TEXT_RULES", 1)
        make_pipeline(upgraded, FEEDS).ingest(captures)
    before = state_of(upgraded)
    assert provenance(upgraded)[scraper.link][2] == "original"
    make_pipeline(fresh, FEEDS).ingest(captures)
    read_again = []
    monkeypatch.setattr("tracker.pipeline.rebuild.document_from_paragraphs",
                        lambda paragraphs, *a: read_again.append(paragraphs) or document_from_paragraphs(paragraphs, *a))
    make_pipeline(upgraded, FEEDS)
    assert provenance(upgraded)[scraper.link] == (ORIGINAL_URL, ORIGINAL_URL, "copy")
    assert state_of(upgraded) == state_of(fresh) != before
    assert _matches(upgraded) == _matches(fresh)
    # Only the texts holding look-alikes were read: the scraper's, ru24's and its mirror's
    # (their chrome line "Январь" is Cyrillic), not Khaama's or the digest's.
    assert len(read_again) == 3 and all(any(not p.isascii() for p in text) for text in read_again)
    read_again.clear()
    make_pipeline(upgraded, FEEDS)  # the next start reads nothing
    assert read_again == []


def test_new_text_rules_fingerprint_nothing_where_they_read_every_text_as_before(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    english = [capture(KHAAMA, T0, rss("Khaama Press", "https://www.khaama.com/", [khaama_item(article(9, paragraphs=5))]))]
    with monkeypatch.context() as old:
        old.setattr("tracker.pipeline.rebuild.TEXT_RULES", 1)
        make_pipeline(sqlite_url, FEEDS).ingest(english)
    before = state_of(sqlite_url)
    monkeypatch.setattr("tracker.detection.fingerprint.Fingerprinter.fingerprint", lambda *_a, **_k: pytest.fail("a text was fingerprinted"))
    pipeline = make_pipeline(sqlite_url, FEEDS)
    assert state_of(sqlite_url) == before
    with pipeline.sessions() as session:
        assert state.meta_value(session, "detection_settings").endswith(f"|text-{TEXT_RULES}")


def test_text_rules_3_fingerprint_again_only_the_texts_a_wrong_charset_decoded(any_db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # A database of text rules 2 holding a scraper's copy decoded with the wrong charset
    # ("Â£" for "£"): a rewrite there. The first start of rules 3 reads again that copy
    # alone — not ru24's Cyrillic chrome, which rules 2 read as rules 3 do — and finds it a copy.
    from tests.detection.test_mojibake import wrongly_decoded

    paragraphs = [f"{p[:-1]}, at £{n}.5bn, the minister’s “first” estimate." for n, p in enumerate(article(18, paragraphs=6))]
    scraper = Item(TITLE, "https://mirrorofmirrors.example/m.html", [wrongly_decoded(p) for p in paragraphs], T0 + hours(5))
    captures = [*network(paragraphs), capture(MIRRORS, T0 + hours(5.5), rss("Mirror of Mirrors", "https://mirrorofmirrors.example/", [scraper]))]
    with monkeypatch.context() as old:
        old.setattr("tracker.detection.normalise.repaired", lambda text: text)
        old.setattr("tracker.pipeline.rebuild.TEXT_RULES", 2)
        make_pipeline(any_db_url, FEEDS).ingest(captures)
    assert provenance(any_db_url)[scraper.link][2] != "copy"
    read_again = []
    monkeypatch.setattr("tracker.pipeline.rebuild.document_from_paragraphs",
                        lambda paragraphs, *a: read_again.append(paragraphs) or document_from_paragraphs(paragraphs, *a))
    make_pipeline(any_db_url, FEEDS)
    assert provenance(any_db_url)[scraper.link] == (ORIGINAL_URL, ORIGINAL_URL, "copy")
    assert len(read_again) == 1 and "Â£" in "\n".join(read_again[0])
