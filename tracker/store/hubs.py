"""Candidate lookup with hub buckets capped: the first members of a crowded LSH bucket only.

Templated text (weather bulletins, earnings lines) and a story copied by thousands of
publishers fill some buckets with as many items as the corpus has of them; reading every
member of such a *hub* bucket makes each lookup cost grow with the corpus. Each bucket is
read up to `cap` members, the earliest stored (an original and its first copies; a
template's first fillings), by one statement of per-bucket `ORDER BY item_id LIMIT`
lookups that the primary key (bucket, item_id) answers from its first entries.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from functools import cache

from sqlalchemy import TextClause, text
from sqlalchemy.orm import Session

# Buckets looked up per statement: few statements, well under SQLite's 500 compound terms;
# a shorter list is padded to one of these sizes, so that only these statements are compiled.
_SIZES = (8, 32, 128)


@cache
def _lookup(count: int) -> TextClause:
    """One statement: the first `:cap` members of each of `count` buckets (`:b0`, `:b1`, …).

    Written out rather than composed with `select()`: SQLAlchemy would walk a statement of
    128 unions on every execution to find it in its cache, which costs more than running it.
    """
    arm = (
        "SELECT h{n}.bucket, h{n}.item_id FROM "
        "(SELECT bucket, item_id FROM lsh_buckets WHERE bucket = :b{n} ORDER BY item_id LIMIT :cap) AS h{n}"
    )
    return text(" UNION ALL ".join(arm.format(n=n) for n in range(count)))


def bucket_members(session: Session, buckets: Collection[int], cap: int) -> dict[int, set[int]]:
    """The items indexed under each of these buckets, at most the `cap` earliest of each."""
    found: dict[int, set[int]] = defaultdict(set)
    ordered = sorted(buckets)
    for start in range(0, len(ordered), _SIZES[-1]):
        part = ordered[start : start + _SIZES[-1]]
        size = next(s for s in _SIZES if s >= len(part))
        padded = part + [part[-1]] * (size - len(part))  # a bucket read twice adds nothing
        binds = {"cap": cap, **{f"b{n}": b for n, b in enumerate(padded)}}
        for bucket, item_id in session.connection().execute(_lookup(size), binds).all():
            found[bucket].add(item_id)
    return found
