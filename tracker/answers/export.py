"""`tracker export`: the provenance graph in W3C PROV (through the `prov` package), or flat rows.

PROV terms used (namespaces `tracker:` = urn:tracker:ns:, items `item:<item_id>` =
urn:tracker:item:<item_id>, publishers `publisher:<slug>` = urn:tracker:publisher:<slug>):

  entity            one per item: prov:label (its title), prov:location (its URL), and
                    tracker:publisher, tracker:relation, tracker:similarity,
                    tracker:containment, tracker:firstSeen, tracker:attributedOrigin
  agent             one per publisher (prov:type prov:Organization, prov:label its name)
  wasGeneratedBy    item, at its credible publication time (the one that orders its story)
  wasAttributedTo   item → its publisher
  wasDerivedFrom    copy → the item it was copied from (its parent), with the relation,
                    similarity and containment
  hadPrimarySource  copy → its story's original (PROV-N writes it as a wasDerivedFrom
                    with prov:type='prov:PrimarySource')

`--since` keeps the items published since then, and the parents and originals they
point to, so that every relation has both ends. jsonl and csv are the item_provenance
rows of the same items, one per line, for spreadsheets and scripts. Text outputs
(PROV-N, CSV) show control and bidi characters escaped; JSON ones keep the exact text.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from prov.model import (
    PROV,
    PROV_LABEL,
    PROV_LOCATION,
    PROV_TYPE,
    Namespace,
    ProvDocument,
)
from sqlalchemy.orm import Session, sessionmaker

from tracker.answers.output import EXPORT_FORMATS, csv_text, json_lines
from tracker.errors import TrackerError
from tracker.store import views
from tracker.terminal import safe
from tracker.timefmt import iso

TRACKER = Namespace("tracker", "urn:tracker:ns:")
ITEM = Namespace("item", "urn:tracker:item:")
PUBLISHER = Namespace("publisher", "urn:tracker:publisher:")


def export_rows(sessions: sessionmaker[Session], since: datetime | None = None) -> list[dict[str, Any]]:
    """item_provenance rows of the items published since `since` (all without it), and of
    the parents and originals they point to, oldest first."""
    with sessions() as session:
        rows = views.items_since(session, since)
        have = {r["item_id"] for r in rows}
        wanted = {r[k] for r in rows for k in ("parent_item_id", "original_item_id") if r[k] is not None} - have
        if wanted:
            rows = views.items_by_id(session, sorted(wanted)) + rows
    return rows


def _slugs(names: set[str]) -> dict[str, str]:
    """A PROV-safe local name for each publisher, distinct even when two names fold alike."""
    out: dict[str, str] = {}
    taken: set[str] = set()
    for name in sorted(names):
        base = re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_") or "publisher"
        slug, n = base, 2
        while slug in taken:
            slug, n = f"{base}_{n}", n + 1
        taken.add(slug)
        out[name] = slug
    return out


def prov_document(rows: list[dict[str, Any]]) -> ProvDocument:
    """The PROV document of these item_provenance rows (see the module docstring)."""
    doc = ProvDocument()
    for namespace in (TRACKER, ITEM, PUBLISHER):
        doc.add_namespace(namespace)
    agents = {}
    for name, slug in _slugs({r["publisher"] for r in rows}).items():
        agents[name] = doc.agent(PUBLISHER[slug], {PROV_TYPE: PROV["Organization"], PROV_LABEL: name})
    present = {r["item_id"] for r in rows}
    for row in rows:
        attributes: dict[Any, Any] = {PROV_TYPE: TRACKER["Item"], TRACKER["publisher"]: row["publisher"],
                                      TRACKER["relation"]: row["relation"]}
        if row["title"]:
            attributes[PROV_LABEL] = row["title"]
        if row["url"]:
            attributes[PROV_LOCATION] = row["url"]
        for key, term in (("similarity", "similarity"), ("containment", "containment")):
            if row[key] is not None:
                attributes[TRACKER[term]] = float(row[key])
        if row["first_seen_at"] is not None:
            attributes[TRACKER["firstSeen"]] = iso(row["first_seen_at"])
        if row["attributed_origin"]:
            attributes[TRACKER["attributedOrigin"]] = row["attributed_origin"]
        entity = doc.entity(ITEM[str(row["item_id"])], attributes)
        when = row["estimated_published_at"] or row["first_seen_at"]
        if when is not None:
            doc.wasGeneratedBy(entity, None, when.replace(tzinfo=UTC))
        doc.wasAttributedTo(entity, agents[row["publisher"]])
    for row in rows:
        if row["parent_item_id"] is None:
            continue
        copy = ITEM[str(row["item_id"])]
        if row["parent_item_id"] in present:
            extra: dict[Any, Any] = {TRACKER["relation"]: row["relation"]}
            for key in ("similarity", "containment"):
                if row[key] is not None:
                    extra[TRACKER[key]] = float(row[key])
            doc.wasDerivedFrom(copy, ITEM[str(row["parent_item_id"])], other_attributes=extra)
        if row["original_item_id"] in present and row["original_item_id"] != row["item_id"]:
            doc.hadPrimarySource(copy, ITEM[str(row["original_item_id"])])
    return doc


def export(sessions: sessionmaker[Session], fmt: str, since: datetime | None = None) -> str:
    """The export in `fmt` (one of `EXPORT_FORMATS`: prov-json, prov-n, jsonl or csv) as text."""
    if fmt not in EXPORT_FORMATS:
        raise TrackerError(f"unknown format {fmt!r}: use one of {', '.join(EXPORT_FORMATS)}")
    rows = export_rows(sessions, since)
    if fmt == "jsonl":
        return json_lines(rows)
    if fmt == "csv":
        return csv_text(rows, views.ITEM_COLUMNS)
    if fmt == "prov-n":
        # PROV-N is read by people: control and bidi characters shown escaped, as in every
        # text output (PROV-JSON is JSON, whose \\u escapes keep the exact text).
        return prov_document([{k: safe(v) if isinstance(v, str) else v for k, v in row.items()} for row in rows]).get_provn()
    return str(prov_document(rows).serialize(format="json", indent=2))
