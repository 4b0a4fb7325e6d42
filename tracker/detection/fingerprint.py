"""Fingerprint stage: tokens → shingles → a datasketch MinHash signature.

Shingles are hashed once with xxh32; those 32-bit values are both the exact set used to
verify candidates and the input of the MinHash (datasketch's "affine32" scheme pre-mixes
its input, so an identity hash function is safe). datasketch 2.0 changed the default
permutation scheme, so every stored signature records `scheme`, `num_perm` and the
shingle size: signatures of different parameters are never compared.

The signature is datasketch's affine32 MinHash computed here with NumPy, value for value
(`tests/test_fingerprint.py` compares the two): importing datasketch costs a process a third
of a second (its package imports its LSH indexes and scipy), more than all the signatures of
an ingest; it is imported only to read a signature back as a datasketch sketch (`minhash_of`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import xxhash

if TYPE_CHECKING:
    from datasketch import LeanMinHash

from tracker.model import Fingerprint, Similarity

SCHEME = "affine32"
SEED = 1
# Shingles permuted at once (see `Fingerprinter.fingerprint`).
_BATCH = 4096
# MurmurHash3's 32-bit finalizer, with which the affine32 scheme pre-mixes every input hash.
_FMIX = (np.uint32(16), np.uint32(0x85EBCA6B), np.uint32(13), np.uint32(0xC2B2AE35), np.uint32(16))
_EMPTY = np.uint32(0xFFFFFFFF)


def permutations(num_perm: int, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """The affine32 permutations h → a·h + b (mod 2³², `a` odd) of datasketch's MinHash with
    this seed: the same generator, drawn in the same order."""
    generator = np.random.RandomState(seed)
    a = generator.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = generator.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


def _fmix(values: np.ndarray) -> np.ndarray:
    s1, m1, s2, m2, s3 = _FMIX
    values = values ^ (values >> s1)
    values = values * m1
    values = values ^ (values >> s2)
    values = values * m2
    return values ^ (values >> s3)


def shingles(words: Sequence[str], size: int) -> np.ndarray:
    """Sorted distinct hashes of every run of `size` consecutive tokens (the whole text if shorter).

    A sorted uint32 array is a tenth of the memory of a Python set and intersects fast.
    """
    if not words:
        return np.empty(0, dtype=np.uint32)
    # Each word encoded once, the runs joined as bytes: the same bytes as joining the words and
    # encoding the run (UTF-8 encodes a string piece by piece), at half the cost per shingle.
    encoded = [word.encode() for word in words]
    if len(encoded) < size:
        return np.array([xxhash.xxh32_intdigest(b"\x1f".join(encoded))], dtype=np.uint32)
    count = len(encoded) - size + 1
    # Iterators, not a list of the runs: a long text's runs would be held all at once.
    runs = zip(*(encoded[k:] for k in range(size)))
    return np.unique(np.fromiter(map(xxhash.xxh32_intdigest, map(b"\x1f".join, runs)), np.uint32, count))


@dataclass(frozen=True, eq=False)
class Fingerprints:
    """Everything detection keeps of one text."""

    story_text: str
    story: Fingerprint
    lead: Fingerprint
    full: np.ndarray


class Fingerprinter:
    """Makes comparable fingerprints with one fixed set of parameters."""

    def __init__(self, num_perm: int = 128, shingle_size: int = 5) -> None:
        self.num_perm = num_perm
        self.shingle_size = shingle_size
        # Generating permutations is the slow part of starting a MinHash: done once.
        self._a, self._b = permutations(num_perm)

    def fingerprint(self, words: Sequence[str]) -> Fingerprint:
        """Fingerprint a token sequence."""
        shingle_set = shingles(words, self.shingle_size)
        values = np.full(self.num_perm, _EMPTY, dtype=np.uint32)
        mixed = _fmix(shingle_set)
        # In slices: a whole text permuted at once is a n × num_perm matrix (1.3 GB for the
        # million shingles of a 9 MB text); a minimum taken slice by slice is the same.
        for start in range(0, mixed.size, _BATCH):
            permuted = mixed[start : start + _BATCH, np.newaxis] * self._a + self._b
            values = np.minimum(values, permuted.min(axis=0))
        return Fingerprint(
            shingles=shingle_set,
            signature=values.tobytes(),
            scheme=SCHEME,
            num_perm=self.num_perm,
            shingle_size=self.shingle_size,
        )


def minhash_of(fingerprint: Fingerprint) -> LeanMinHash:
    """The datasketch sketch behind a stored signature (to estimate similarity from it)."""
    from datasketch import LeanMinHash

    values = np.frombuffer(fingerprint.signature, dtype=np.uint32)
    return LeanMinHash(seed=SEED, hashvalues=values, scheme=fingerprint.scheme)


def pack_shingles(values: np.ndarray) -> bytes:
    """Shingles as stored: their uint32 values, 4 bytes each."""
    return values.astype(np.uint32).tobytes()


def unpack_shingles(data: bytes | None) -> np.ndarray:
    """Shingles as `pack_shingles` stored them."""
    return np.frombuffer(data, dtype=np.uint32) if data else np.empty(0, dtype=np.uint32)


def pack_keys(keys: Sequence[int]) -> bytes:
    """Paragraph keys as stored: uint64 values, 8 bytes each."""
    return np.asarray(keys, dtype=np.uint64).tobytes()


def unpack_keys(data: bytes | None) -> tuple[int, ...]:
    """Paragraph keys as `pack_keys` stored them."""
    return tuple(int(k) for k in np.frombuffer(data, dtype=np.uint64)) if data else ()


def overlap(a: np.ndarray, b: np.ndarray) -> int:
    """How many shingles two sorted distinct shingle arrays share."""
    return int(np.intersect1d(a, b, assume_unique=True).size)


def similarity(a: np.ndarray, b: np.ndarray) -> Similarity:
    """Exact resemblance and containment of two shingle arrays."""
    if not a.size or not b.size:
        return Similarity(0.0, 0.0, 0.0, 0)
    shared = overlap(a, b)
    return Similarity(
        jaccard=shared / (len(a) + len(b) - shared),
        a_in_b=shared / len(a),
        b_in_a=shared / len(b),
        shared=shared,
    )
