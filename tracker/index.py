"""Index stage: candidate search over MinHash signatures with datasketch's LSH.

The index is a cache: SQL holds every signature, and the pipeline rebuilds this from
there on start-up. Bands and rows are chosen for recall, not left to datasketch's
threshold optimiser: 64 bands of 2 rows make a pair at Jaccard 0.2 a candidate 93% of
the time, so excerpts (high containment, low resemblance) are found and verified
exactly afterwards. A plain `MinHashLSH(threshold=0.5)` misses about one copy in six.
"""

from __future__ import annotations

from collections.abc import Hashable

from datasketch import MinHashLSH

from tracker.fingerprint import minhash_of
from tracker.model import Fingerprint


class CandidateIndex:
    """Keys (any hashable, e.g. (item id, version)) findable by signature similarity."""

    def __init__(self, num_perm: int, bands: int, rows: int) -> None:
        self._lsh = MinHashLSH(num_perm=num_perm, params=(bands, rows))

    def add(self, key: Hashable, fingerprint: Fingerprint) -> None:
        """Index a signature under `key` (replacing what the key had)."""
        if key in self._lsh:
            self._lsh.remove(key)
        self._lsh.insert(key, minhash_of(fingerprint), check_duplication=False)

    def remove(self, key: Hashable) -> None:
        """Forget a key; unknown keys are ignored."""
        if key in self._lsh:
            self._lsh.remove(key)

    def query(self, fingerprint: Fingerprint) -> list[Hashable]:
        """Keys whose signatures collide with this one in at least one band."""
        return self._lsh.query(minhash_of(fingerprint))

    def __len__(self) -> int:
        return len(self._lsh.keys)
