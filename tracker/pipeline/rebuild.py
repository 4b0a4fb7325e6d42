"""Building the detection state from the stored versions, once.

Paragraph counts and LSH buckets depend on the detection settings (permutations, shingle
size, bands × rows, the boilerplate threshold). The database remembers the settings its
state was built with; a process started with others — or the first start after the
upgrade that introduced the state — builds it again from the stored fingerprints, under
a lock, before any capture is processed. Versions stored before fingerprints were kept
(or under other settings) are fingerprinted from their text, once.

The stored decisions (who is the original, who copied whom) depend on the provenance
rules: their version (`tracker.provenance.decide.PROVENANCE_RULES_VERSION`) and the tolerance
of claimed dates. They are part of the recorded settings too: when only they changed,
every stored group is decided again (nothing fingerprinted or matched again).
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from functools import partial
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from tracker.detection.fingerprint import SCHEME, pack_keys, unpack_keys
from tracker.detection.lsh import buckets_of
from tracker.detection.normalise import (
    TEXT_RULES,
    document_from_paragraphs,
    read_differently,
)
from tracker.errors import ConfigError
from tracker.model import IngestReport
from tracker.provenance import decide as provenance_rules
from tracker.store import buckets, locks, state
from tracker.store.evidence import as_signed, reposted
from tracker.store.publishers import load_directory

if TYPE_CHECKING:
    from tracker.pipeline.capture import Pipeline

log = logging.getLogger(__name__)
SETTINGS = "detection_settings"


# Joins the fingerprint settings to the provenance rules in the recorded settings (a
# database last started before the rules were recorded has the fingerprint part alone).
_RULES = "|"


def settings_of(pipeline: Pipeline) -> str:
    """The detection settings the state and the stored decisions depend on, as the database
    records them: the fingerprint settings, then the provenance rules."""
    d = pipeline.detection
    fingerprints = f"{SCHEME}/{d.num_perm}/{d.shingle_size}/{d.lsh_bands}x{d.lsh_rows}/{d.boilerplate_min_items}"
    rules = f"provenance-{provenance_rules.PROVENANCE_RULES_VERSION}/{d.claim_tolerance_seconds}"
    return f"{fingerprints}{_RULES}{rules}{_RULES}text-{TEXT_RULES}"


def _fingerprints(settings: str | None) -> str | None:
    """The fingerprint part of recorded settings."""
    return settings.split(_RULES, 1)[0] if settings is not None else None


def _part(settings: str, index: int, default: str) -> str:
    """One part of recorded settings (those recorded before the part existed: `default`)."""
    parts = settings.split(_RULES)
    return parts[index] if index < len(parts) else default


def prepare(pipeline: Pipeline) -> None:
    """Make sure the detection state matches the pipeline's settings (a no-op once it does)."""
    wanted = settings_of(pipeline)
    with pipeline.sessions() as session:
        if state.meta_value(session, SETTINGS) == wanted:
            return
    with pipeline.sessions.begin() as session:
        locks.begin_write(session)
        locks.lock(session, locks.REBUILD, [0])
        built = state.meta_value(session, SETTINGS)
        if built == wanted:
            return  # another process built it while this one waited
        # Texts fingerprinted by older text rules (a database recording none had rules 1)
        # that these rules read differently.
        since = _part(built or "", 2, "text-1")
        stale = _read_differently(session, _text_rules(since)) if since != _part(wanted, 2, "") else set()
        if built is not None and _fingerprints(built) == _fingerprints(wanted):
            if stale:
                log.warning("fingerprinting again %d texts the new text rules read differently", len(stale))
                _rebuild(session, pipeline, _boilerplate_threshold(built), stale)
                _match_again(session, pipeline)
            elif _part(built, 1, "") != _part(wanted, 1, "") and state.has_versions(session):
                log.warning("deciding every story again (the provenance rules changed)")
                _decide_again(session, pipeline)
        elif state.has_versions(session):
            log.warning("building the detection state from the stored versions (once, for these detection settings)")
            _rebuild(session, pipeline, _boilerplate_threshold(built), stale)
            if built is not None or stale:
                # Matches were verified on the old fingerprints and candidates: found again,
                # they are what a fresh database with these settings holds. (After the upgrade
                # that introduced the state, `built` is unknown and the matches are current.)
                _match_again(session, pipeline)
        state.set_meta(session, SETTINGS, wanted)


def check(pipeline: Pipeline, session: Session) -> None:
    """At the start of a write: the state must still be the one built for this process's
    settings. A process started since with other settings built it again; writing on with
    these would mix two sets of fingerprints and buckets in one index."""
    # Shared: writers go on side by side; a rebuild (exclusive) waits for them, and they for it.
    built = state.meta_value(session, SETTINGS, shared_lock=(locks.REBUILD, 0))
    if built != pipeline.settings:
        raise ConfigError(
            f"the detection state was built again by another process for other [detection] settings ({built}, here "
            f"{pipeline.settings}); start this one again with the same settings"
        )


def _text_rules(part: str) -> int:
    """The text rules a settings part names ("text-2"); 1 where it names none it knows."""
    number = part.removeprefix("text-")
    return int(number) if number.isdigit() else 1


def _boilerplate_threshold(settings: str | None) -> int | None:
    """The boilerplate threshold the stored fingerprints were cleaned with (None: unknown,
    as after the upgrade that introduced the state, whose versions were cleaned as now)."""
    try:
        return int(settings.split(_RULES, 1)[0].rsplit("/", 1)[1]) if settings else None
    except (IndexError, ValueError):
        return None


def _holders(counts: dict[int, list[int]], threshold: int, key: int) -> list[int]:
    """The items holding a paragraph while it is not yet boilerplate (as a live count keeps them)."""
    ids = counts.get(key, [])
    return ids if len(ids) < threshold else []


def _read_differently(session: Session, since: int, chunk: int = 1000) -> set[int]:
    """The versions whose text or title this process's text rules read otherwise than the
    rules they were fingerprinted by (`since`; `normalise.read_differently`), read a chunk at a time."""
    stale: set[int] = set()
    for publisher_id in state.publishers_with_items(session):
        ids = [r.id for r in state.versions_of_publisher(session, publisher_id)]
        for start in range(0, len(ids), chunk):
            texts = state.texts_of(session, ids[start : start + chunk])
            stale.update(vid for vid, (text, title) in texts.items() if read_differently(text or "", since) or read_differently(title or "", since))
    return stale


def _rebuild(session: Session, pipeline: Pipeline, threshold: int | None, stale_texts: Collection[int] = frozenset()) -> None:
    """The counts and the index built again from the stored fingerprints; versions without
    fingerprints for these settings, and `stale_texts`, fingerprinted again from their text."""
    d = pipeline.detection
    before = d.boilerplate_min_items if threshold is None else threshold
    state.clear_derived(session)
    state.fill_full_counts(session)
    for publisher_id in state.publishers_with_items(session):
        rows = state.versions_of_publisher(session, publisher_id)
        stale = [r.id for r in rows if r.missing or r.paragraph_keys is None or (r.num_perm, r.shingle_size) != (d.num_perm, d.shingle_size)
                 or r.sig_scheme != SCHEME or r.id in stale_texts]
        texts = state.texts_of(session, stale)
        documents = {vid: document_from_paragraphs(text.split("\n") if text else []) for vid, (text, _) in texts.items()}
        counts: dict[int, list[int]] = {}
        held: dict[int, set[int]] = {}
        for r in sorted(rows, key=lambda r: r.id):  # in the order they were stored, as they were counted
            keys = documents[r.id].keys if r.id in documents else unpack_keys(r.paragraph_keys)
            mine = held.setdefault(r.item_id, set())
            new = set(keys) - mine
            # As counted when the versions were stored: a repost's shared paragraphs are not.
            new -= reposted(new, partial(_holders, counts, before))
            for key in new:
                counts.setdefault(key, []).append(r.item_id)
            mine.update(keys)
        # A paragraph on as many items as one threshold asks but not the other changed sides:
        # the stories holding it were cleaned by the old threshold, and are fingerprinted again.
        flipped = {key for key, ids in counts.items() if (len(ids) >= before) != (len(ids) >= d.boilerplate_min_items)}
        if flipped:
            again = [r.id for r in rows if r.id not in documents and flipped & set(unpack_keys(r.paragraph_keys))]
            texts.update(state.texts_of(session, again))
            documents.update({vid: document_from_paragraphs(texts[vid][0].split("\n") if texts[vid][0] else []) for vid in again})
        state.insert_counts(session, [
            {"publisher_id": publisher_id, "key": as_signed(key), "item_count": len(ids),
             "holders": "" if len(ids) >= d.boilerplate_min_items else " ".join(map(str, ids))}
            for key, ids in counts.items()
        ])
        updates = []
        for vid, (_, title) in texts.items():
            prints = pipeline.fingerprints(session, publisher_id, documents[vid], title)
            updates.append({"vid": vid, **state.version_columns(prints), "paragraph_keys": pack_keys(documents[vid].keys)})
        state.update_versions(session, updates)
    # The buckets were cleared above: every item's are written in bulk, none looked up first.
    for batch in state.signatures(session):
        buckets.insert_fresh(session, [
            {"bucket": bucket, "item_id": item_id}
            for item_id, signatures in batch.items() for bucket in buckets_of(signatures, d.lsh_bands, d.lsh_rows)
        ])


def _match_again(session: Session, pipeline: Pipeline, batch: int = 500) -> None:
    """Every item matched and every group decided again, on the rebuilt fingerprints."""
    log.warning("matching every item again (the detection settings changed)")
    state.clear_matches(session)
    ids = state.item_ids(session)
    for start in range(0, len(ids), batch):
        pipeline.detector.match(session, ids[start : start + batch])
    _decide_again(session, pipeline, ids)


def _decide_again(session: Session, pipeline: Pipeline, ids: list[int] | None = None) -> None:
    """Every group decided again, by the rules and settings of this process."""
    directory = load_directory(session)
    ids = state.item_ids(session) if ids is None else ids
    # Not alerted: copies found because the settings changed are no news of the feeds.
    pipeline.detector.decide(session, set(ids), lambda: directory, IngestReport())
