"""Fingerprints: shingles, MinHash signatures, and exact similarity of texts."""

from __future__ import annotations

import numpy as np
import pytest

from tracker.detection.fingerprint import (
    SCHEME,
    Fingerprinter,
    minhash_of,
    overlap,
    shingles,
    similarity,
)
from tracker.detection.normalise import tokens

ARTICLE = [
    "The price of firewood and coal in Kabul has risen by nearly a third since early December, traders say, "
    "as imports from neighbouring countries slow at the border crossings and lorries wait for days in the cold.",
    "A sack of coal that sold for twelve hundred afghanis a month ago now costs more than sixteen hundred, "
    "according to sellers in the Pul-e-Khishti market, and many families say they can heat only one room.",
    "Officials at the ministry of commerce said new shipments were expected within two weeks and asked "
    "traders not to hoard supplies, warning that shops found doing so could lose their licences.",
    "Aid groups have begun handing out vouchers for heating fuel in the western districts of the city, "
    "where temperatures have fallen below minus fifteen degrees on several nights this month.",
    "Residents of the Khair Khana neighbourhood told reporters that they had started burning plastic and "
    "old shoes to stay warm, despite warnings from doctors about the smoke and its effect on children.",
]
UNRELATED = (
    "Our volunteers counted forty one species along the river this year, three more than last winter. "
    "The surprise of the morning was a waxwing flock feeding on rowan berries near the old mill."
)


@pytest.fixture(scope="module")
def fingerprinter() -> Fingerprinter:
    return Fingerprinter(num_perm=128, shingle_size=5)


def words(text: str) -> list[str]:
    return tokens(text)


def test_identical_texts_have_identical_signatures(fingerprinter: Fingerprinter) -> None:
    a = fingerprinter.fingerprint(words(" ".join(ARTICLE)))
    # A copy re-flowed and re-cased by a mirror is the same text once tokenised.
    b = fingerprinter.fingerprint(words("\n\n".join(ARTICLE).upper()))
    assert a.signature == b.signature
    assert np.array_equal(a.shingles, b.shingles)
    sim = similarity(a.shingles, b.shingles)
    assert sim.jaccard == 1.0 and sim.containment == 1.0 and sim.shared == a.size
    assert minhash_of(a).jaccard(minhash_of(b)) == 1.0


def test_signatures_are_reproducible_across_fingerprinters() -> None:
    """Stored signatures are compared with ones made later, by another process."""
    text = words(" ".join(ARTICLE))
    assert Fingerprinter().fingerprint(text).signature == Fingerprinter().fingerprint(text).signature


def test_excerpt_is_contained_but_does_not_resemble(fingerprinter: Fingerprinter) -> None:
    """An aggregator's excerpt (the first paragraph) is wholly inside the article, yet a small part of it."""
    excerpt = fingerprinter.fingerprint(words(ARTICLE[0]))
    full = fingerprinter.fingerprint(words(" ".join(ARTICLE)))
    sim = similarity(excerpt.shingles, full.shingles)
    assert sim.a_in_b == pytest.approx(1.0)
    assert sim.containment == pytest.approx(1.0)
    assert sim.b_in_a < 0.3
    assert sim.jaccard < 0.3
    assert sim.shared == excerpt.size
    # The MinHash estimate agrees with the exact figure, roughly.
    assert abs(minhash_of(excerpt).jaccard(minhash_of(full)) - sim.jaccard) < 0.15


def test_unrelated_texts_share_nothing(fingerprinter: Fingerprinter) -> None:
    a = fingerprinter.fingerprint(words(" ".join(ARTICLE)))
    b = fingerprinter.fingerprint(words(UNRELATED))
    sim = similarity(a.shingles, b.shingles)
    assert sim.shared == 0
    assert sim.jaccard == 0.0 and sim.containment == 0.0
    assert overlap(a.shingles, b.shingles) == 0
    assert minhash_of(a).jaccard(minhash_of(b)) < 0.1


def test_a_light_edit_keeps_a_high_resemblance(fingerprinter: Fingerprinter) -> None:
    edited = list(ARTICLE)
    edited[2] = edited[2].replace("two weeks", "ten days")
    a = fingerprinter.fingerprint(words(" ".join(ARTICLE)))
    b = fingerprinter.fingerprint(words(" ".join(edited)))
    sim = similarity(a.shingles, b.shingles)
    assert 0.8 < sim.jaccard < 1.0


def test_chinese_copy_with_other_punctuation_and_spacing_is_identical(fingerprinter: Fingerprinter) -> None:
    original = "国家统计局17日发布数据，初步核算，全年国内生产总值按不变价格计算，比上年增长百分之五。"
    copy = "国家统计局 17 日发布数据, 初步核算, 全年国内生产总值按不变价格计算, 比上年增长百分之五."
    a = fingerprinter.fingerprint(words(original))
    b = fingerprinter.fingerprint(words(copy))
    assert a.size > 30  # one shingle per character run: a short CJK sentence still has many
    assert a.signature == b.signature


def test_fingerprint_records_its_parameters() -> None:
    fp = Fingerprinter(num_perm=64, shingle_size=3).fingerprint(words(ARTICLE[0]))
    assert fp.scheme == SCHEME == "affine32"
    assert fp.num_perm == 64
    assert fp.shingle_size == 3
    assert len(fp.signature) == 64 * 4  # 32-bit hash values
    assert fp.shingles.dtype == np.uint32
    assert np.all(np.diff(fp.shingles.astype(np.int64)) > 0)  # sorted and distinct
    assert len(minhash_of(fp).hashvalues) == 64


def test_shingle_size_changes_the_shingles() -> None:
    text = words(ARTICLE[0])
    assert not np.array_equal(shingles(text, 3), shingles(text, 5))
    assert shingles(text, 3).size == len(text) - 3 + 1  # no repeated 3-word runs in this paragraph


def test_text_shorter_than_a_shingle_is_one_shingle(fingerprinter: Fingerprinter) -> None:
    short = fingerprinter.fingerprint(["ferry", "cancelled"])
    assert short.size == 1
    other = fingerprinter.fingerprint(["ferry", "delayed"])
    assert similarity(short.shingles, other.shingles).shared == 0
    same = fingerprinter.fingerprint(["ferry", "cancelled"])
    assert similarity(short.shingles, same.shingles).jaccard == 1.0


def test_empty_text_has_no_shingles_and_no_similarity(fingerprinter: Fingerprinter) -> None:
    empty = fingerprinter.fingerprint([])
    full = fingerprinter.fingerprint(words(ARTICLE[0]))
    assert empty.size == 0
    sim = similarity(empty.shingles, full.shingles)
    assert (sim.jaccard, sim.a_in_b, sim.b_in_a, sim.shared) == (0.0, 0.0, 0.0, 0)


@pytest.mark.parametrize("num_perm", [64, 128])
def test_signatures_are_datasketchs_affine32_minhash(num_perm: int) -> None:
    # Stored signatures stay comparable with those datasketch made (and would make): the
    # NumPy computation gives datasketch's values, for short, long (sliced) and empty texts.
    from datasketch import MinHash

    fingerprinter = Fingerprinter(num_perm=num_perm, shingle_size=5)
    rng = np.random.default_rng(7)
    texts = [[], ["one", "word"], words(" ".join(ARTICLE)), [str(w) for w in rng.integers(0, 5000, 9000)]]
    for text in texts:
        fp = fingerprinter.fingerprint(text)
        sketch = MinHash(num_perm=num_perm, seed=1, hashfunc=lambda value: value, scheme=SCHEME)
        for start in range(0, fp.shingles.size, 1000):
            sketch.update_batch(fp.shingles[start : start + 1000].tolist())
        assert fp.signature == sketch.hashvalues.astype(np.uint32).tobytes()
    assert fingerprinter.fingerprint(words(ARTICLE[0])).signature != fingerprinter.fingerprint(words(ARTICLE[1])).signature
