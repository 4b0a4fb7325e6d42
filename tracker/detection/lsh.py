"""Candidate stage: the LSH bands of a MinHash signature, as keys an SQL index can hold.

A signature of `bands × rows` values is cut into bands; each band hashes to one 64-bit
bucket. Two texts whose signatures agree on every row of some band share that bucket,
and `tracker.store.matching` finds them with one indexed lookup. Bands and rows are
chosen for recall, not left to a threshold optimiser: 64 bands of 2 rows make a pair at
Jaccard 0.2 a candidate 93% of the time, so excerpts (high containment, low resemblance)
are found and then verified exactly (`bench/lsh_params.py` measures the alternatives).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from functools import lru_cache

import numpy as np
import xxhash

# MinHash's value for an empty set in every row: such a signature says nothing.
_EMPTY = np.iinfo(np.uint32).max


def band_keys(signature: bytes, bands: int, rows: int) -> tuple[int, ...]:
    """The buckets (signed 64-bit integers, as SQL stores them) of a signature's bands;
    none for the signature of an empty text."""
    return _band_keys(bytes(signature), bands, rows)


# Remembered: a new text's buckets are indexed, then looked up when it is matched (a pure
# function of its arguments; the bound keeps the memory small).
@lru_cache(maxsize=4096)
def _band_keys(signature: bytes, bands: int, rows: int) -> tuple[int, ...]:
    values = np.frombuffer(signature, dtype=np.uint32)[: bands * rows]
    if values.size < bands * rows or bool((values == _EMPTY).all()):
        return ()
    data = values.tobytes()
    width = rows * 4
    keys = []
    for band in range(bands):
        digest = xxhash.xxh64_intdigest(data[band * width : (band + 1) * width], seed=band)
        keys.append(digest - (1 << 64) if digest >= 1 << 63 else digest)
    return tuple(keys)


def buckets_of(signatures: list[bytes], bands: int, rows: int) -> set[int]:
    """The distinct buckets of several signatures (an item's stories and leads)."""
    found: set[int] = set()
    for signature in signatures:
        found.update(band_keys(signature, bands, rows))
    return found


# Hub buckets (templated text, a story copied thousands of times) are read up to this many
# members, the earliest stored; and an item's candidates are at most `MAX_CANDIDATES`, those
# sharing the most buckets with it. In the dev world no bucket holds more than 6 items and
# none in summary-dev more than 14; a verified match ranks at worst 5th (dev) and 15th
# (summary-dev) among its item's candidates by shared buckets: both caps leave either
# world as it was, and bound a lookup's cost whatever the corpus (docs/how-it-decides.md).
HUB_CAP = 32
MAX_CANDIDATES = 32


def strongest(buckets: Iterable[int], members: Mapping[int, Collection[int]], own: int, limit: int = MAX_CANDIDATES) -> set[int]:
    """The `limit` items sharing most of these buckets with item `own` (earliest stored among equals)."""
    shared = Counter(m for b in buckets for m in members.get(b, ()) if m != own)
    if len(shared) <= limit:
        return set(shared)
    return {m for m, _ in sorted(shared.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]}
