"""What an LSH band table costs on disk, measured by building one.

A band table holds one row per (signature, band): `band_hash BIGINT` (the band's rows
and its number hashed to 64 bits) and `version_id INT`, with a btree index on
`band_hash`, filled row by row as a live tracker would (the index exists before the
inserts, so its pages are as full as incremental inserts leave them). Each version has
two signatures, story and lead, as the pipeline indexes both. Signatures are random
(distinct articles collide in no band), so sizes are those of a corpus of distinct texts.

Alternatives measured beside it: on SQLite a `WITHOUT ROWID` table whose primary key is
(band_hash, version_id) — the index is the table; on PostgreSQL one row per signature
with the band hashes in a `BIGINT[]` under a GIN index.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xxhash

SIGNATURES_PER_VERSION = 2  # story and lead


@dataclass(frozen=True)
class Size:
    """Bytes per version (= per item with one version) of one layout."""

    engine: str
    layout: str
    bands: int
    rows: int
    table: float
    index: float

    @property
    def total(self) -> float:
        return self.table + self.index


def band_hashes(signature: np.ndarray, bands: int, rows: int) -> list[int]:
    """Each band's rows, with the band's number, hashed to a signed 64-bit integer (a BIGINT)."""
    out = []
    for band in range(bands):
        digest = xxhash.xxh64_intdigest(signature[band * rows : (band + 1) * rows].tobytes(), seed=band)
        out.append(digest - (1 << 64) if digest >= 1 << 63 else digest)
    return out


def _rows(versions: int, bands: int, rows: int, seed: int) -> Iterator[tuple[int, int]]:
    rng = np.random.default_rng(seed)
    for version_id in range(1, versions + 1):
        for _ in range(SIGNATURES_PER_VERSION):
            signature = rng.integers(0, 2**32, size=bands * rows, dtype=np.uint32)
            for value in band_hashes(signature, bands, rows):
                yield value, version_id


def sqlite_sizes(versions: int, bands: int, rows: int, seed: int = 1) -> list[Size]:
    """Table and index bytes per version on SQLite (dbstat), for the plain and WITHOUT ROWID layouts."""
    out = []
    with tempfile.TemporaryDirectory(prefix="bench-bands-") as folder:
        conn = sqlite3.connect(Path(folder) / "bands.sqlite3")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE bands (band_hash BIGINT NOT NULL, version_id INT NOT NULL)")
        conn.execute("CREATE INDEX bands_hash ON bands (band_hash)")
        conn.execute("CREATE TABLE bands_pk (band_hash BIGINT NOT NULL, version_id INT NOT NULL, "
                     "PRIMARY KEY (band_hash, version_id)) WITHOUT ROWID")
        batch: list[tuple[int, int]] = []
        for row in _rows(versions, bands, rows, seed):
            batch.append(row)
            if len(batch) >= 50_000:
                conn.executemany("INSERT INTO bands VALUES (?, ?)", batch)
                conn.executemany("INSERT OR IGNORE INTO bands_pk VALUES (?, ?)", batch)
                conn.commit()
                batch = []
        conn.executemany("INSERT INTO bands VALUES (?, ?)", batch)
        conn.executemany("INSERT OR IGNORE INTO bands_pk VALUES (?, ?)", batch)
        conn.commit()
        pages = dict(conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall())
        conn.close()
    out.append(Size("sqlite", "table + btree", bands, rows, pages["bands"] / versions, pages["bands_hash"] / versions))
    out.append(Size("sqlite", "WITHOUT ROWID pk", bands, rows, 0.0, pages["bands_pk"] / versions))
    return out


def postgresql_sizes(server_url: str, versions: int, bands: int, rows: int, seed: int = 1) -> list[Size]:
    """Table and index bytes per version on PostgreSQL, in a scratch database on `server_url`
    (a libpq URL of the maintenance database), for the btree and the array + GIN layouts."""
    import os

    import psycopg

    server_url = server_url.replace("postgresql+psycopg://", "postgresql://")  # a SQLAlchemy URL is fine too
    name = f"bench_bands_{os.getpid()}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with psycopg.connect(server_url.rsplit("/", 1)[0] + "/" + name, autocommit=True) as conn:
            conn.execute("CREATE TABLE bands (band_hash BIGINT NOT NULL, version_id INT NOT NULL)")
            conn.execute("CREATE INDEX bands_hash ON bands (band_hash)")
            conn.execute("CREATE TABLE band_arrays (version_id INT NOT NULL, band_hashes BIGINT[] NOT NULL)")
            conn.execute("CREATE INDEX band_arrays_gin ON band_arrays USING gin (band_hashes)")
            with conn.cursor() as cur:
                with cur.copy("COPY bands (band_hash, version_id) FROM STDIN") as copy:
                    for row in _rows(versions, bands, rows, seed):
                        copy.write_row(row)
                # One row per signature: a version's story and lead are two rows.
                arrays: list[int] = []
                with cur.copy("COPY band_arrays (version_id, band_hashes) FROM STDIN") as copy:
                    for value, version_id in _rows(versions, bands, rows, seed):
                        arrays.append(value)
                        if len(arrays) == bands:
                            copy.write_row((version_id, arrays))
                            arrays = []
            conn.execute("SELECT gin_clean_pending_list('band_arrays_gin'::regclass)")
            conn.execute("VACUUM ANALYZE bands")
            conn.execute("VACUUM ANALYZE band_arrays")

            def size(relation: str) -> int:
                return int(conn.execute(f"SELECT pg_total_relation_size('{relation}')").fetchone()[0])  # type: ignore[index]

            def heap(relation: str) -> int:
                return int(conn.execute(f"SELECT pg_table_size('{relation}')").fetchone()[0])  # type: ignore[index]

            return [
                Size("postgresql", "table + btree", bands, rows, heap("bands") / versions, size("bands_hash") / versions),
                Size("postgresql", "BIGINT[] + GIN", bands, rows, heap("band_arrays") / versions, size("band_arrays_gin") / versions),
            ]
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
