"""Fingerprint stage: tokens → shingles → a datasketch MinHash signature.

Shingles are hashed once with xxh32; those 32-bit values are both the exact set used to
verify candidates and the input of the MinHash (datasketch's "affine32" scheme pre-mixes
its input, so an identity hash function is safe). datasketch 2.0 changed the default
permutation scheme, so every stored signature records `scheme`, `num_perm` and the
shingle size: signatures of different parameters are never compared.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import xxhash

if TYPE_CHECKING:
    from datasketch import LeanMinHash

from tracker.model import Fingerprint, Similarity

SCHEME = "affine32"
SEED = 1
# Shingles handed to datasketch at once (see `Fingerprinter.fingerprint`).
_BATCH = 4096


def _identity(value: int) -> int:
    return value


def shingles(words: Sequence[str], size: int) -> np.ndarray:
    """Sorted distinct hashes of every run of `size` consecutive tokens (the whole text if shorter).

    A sorted uint32 array is a tenth of the memory of a Python set and intersects fast.
    """
    if not words:
        return np.empty(0, dtype=np.uint32)
    count = max(1, len(words) - size + 1)
    # A generator, not a list of the runs: a long text's runs would be held all at once.
    hashes = (xxhash.xxh32_intdigest("\x1f".join(words[i : i + size]).encode()) for i in range(count))
    return np.unique(np.fromiter(hashes, np.uint32, count))


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
        self._permutations: Any = None

    def fingerprint(self, words: Sequence[str]) -> Fingerprint:
        """Fingerprint a token sequence."""
        shingle_set = shingles(words, self.shingle_size)
        # Imported on first use: datasketch's package imports its LSH and scipy, a third of a
        # second that a process starting up (to poll at once) need not pay.
        from datasketch import MinHash

        if self._permutations is None:
            # Generating permutations is the slow part of constructing a MinHash: done once.
            self._permutations = MinHash(num_perm=self.num_perm, seed=SEED, scheme=SCHEME).permutations
        minhash = MinHash(
            num_perm=self.num_perm, seed=SEED, hashfunc=_identity, scheme=SCHEME, permutations=self._permutations
        )
        # In slices: datasketch permutes a whole batch at once, a num_perm × n matrix (1.3 GB
        # for the million shingles of a 9 MB text); a minimum taken slice by slice is the same.
        for start in range(0, shingle_set.size, _BATCH):
            minhash.update_batch(shingle_set[start : start + _BATCH].tolist())
        return Fingerprint(
            shingles=shingle_set,
            signature=minhash.hashvalues.astype(np.uint32).tobytes(),
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
