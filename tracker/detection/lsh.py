"""Candidate stage: the LSH bands of a MinHash signature, as keys an SQL index can hold.

A signature of `bands × rows` values is cut into bands; each band hashes to one 64-bit
bucket. Two texts whose signatures agree on every row of some band share that bucket,
and `tracker.store.matching` finds them with one indexed lookup. Bands and rows are
chosen for recall, not left to a threshold optimiser: 64 bands of 2 rows make a pair at
Jaccard 0.2 a candidate 93% of the time, so excerpts (high containment, low resemblance)
are found and then verified exactly (`bench/lsh_params.py` measures the alternatives).
"""

from __future__ import annotations

import numpy as np
import xxhash

# MinHash's value for an empty set in every row: such a signature says nothing.
_EMPTY = np.iinfo(np.uint32).max


def band_keys(signature: bytes, bands: int, rows: int) -> list[int]:
    """The buckets (signed 64-bit integers, as SQL stores them) of a signature's bands;
    none for the signature of an empty text."""
    values = np.frombuffer(signature, dtype=np.uint32)[: bands * rows]
    if values.size < bands * rows or bool((values == _EMPTY).all()):
        return []
    keys = []
    for band in range(bands):
        digest = xxhash.xxh64_intdigest(values[band * rows : (band + 1) * rows].tobytes(), seed=band)
        keys.append(digest - (1 << 64) if digest >= 1 << 63 else digest)
    return keys


def buckets_of(signatures: list[bytes], bands: int, rows: int) -> set[int]:
    """The distinct buckets of several signatures (an item's stories and leads)."""
    found: set[int] = set()
    for signature in signatures:
        found.update(band_keys(signature, bands, rows))
    return found
