"""Check and time the parse stage's memory of entries (tracker.reader.entrymemory): the same
ParsedFeed with it as without it, on real feeds and on a whole world's archive.

    python bench/parse_cache_bench.py [--feeds ../shared/realfeeds] [--warc ../shared/worlds/dev/world.warc.gz]

Real feeds: each file is parsed, as a feed of its own, five times in sequence — as it is,
as it is again (all of it remembered), then edited copies (its first entry gone and a
title changed; two entries swapped and one added; an entry edited and the head's
namespaces changed), and once more as it is — with the memory and without it, under two
content types (none, and text/html, which feedparser complains of); every result must be
equal. The archive: every capture parsed in order with and without the memory (one
process, as the ingest's parser process), the results compared, the parse CPU printed.
Exit status 1 on any difference.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tracker.errors import ParseError  # noqa: E402
from tracker.model import Capture, ParsedFeed  # noqa: E402
from tracker.reader.archive import Skipped, read_warc  # noqa: E402
from tracker.reader.feedlayout import layout  # noqa: E402
from tracker.reader.parse import _KNOWN_NAMESPACES, MEMORY, parse_capture_body  # noqa: E402

SHARED = ROOT.parent.parent / "shared" if (ROOT.parent.parent / "shared").is_dir() else Path("/work/shared")
Outcome = ParsedFeed | str | None


def outcome(body: bytes, content_type: str | None, when: datetime, feed: str | None) -> Outcome:
    """A parse's result, an error as its type and message."""
    parsed = parse_capture_body(body, content_type, when, feed)
    return f"{type(parsed).__name__}: {parsed}" if isinstance(parsed, ParseError) else parsed


def edits(body: bytes) -> Iterator[bytes]:
    """Edited copies of a feed document: entries dropped, edited, swapped, added; a head
    with another namespace and an xml:base. A document that cannot be cut into entries gets
    a textual edit only."""
    shape = layout(body, None, _KNOWN_NAMESPACES)
    if shape is None or len(shape.spans) < 3:
        yield body.replace(b"</title>", b" (edited)</title>", 2)
        return
    spans = shape.spans
    head, tail = body[: spans[0][0]], body[spans[-1][1] :]
    between = body[spans[0][1] : spans[1][0]]
    entries = [body[start:end] for start, end in spans]

    def joined(items: list[bytes], head: bytes = head) -> bytes:
        return head + between.join(items) + tail

    def edited(entry: bytes) -> bytes:
        for end in (b"</title>", b"</guid>", b"</id>", b"</link>"):
            if end in entry:
                return entry.replace(end, b" (edited)" + end, 1)
        return entry

    yield joined([edited(entries[1]), *entries[2:]])
    yield joined([entries[1], entries[0], *entries[2:], edited(edited(entries[2]))])
    root = next(i for i in range(len(head)) if head[i : i + 1] == b"<" and head[i + 1 : i + 2] not in (b"?", b"!"))
    name_end = root + 1 + len(head[root + 1 :].split(maxsplit=1)[0].rstrip(b">"))
    other = head[:name_end] + b' xmlns:extra="urn:x-extra" xml:base="http://example.org/base/"' + head[name_end:]
    yield joined([*entries[:2], edited(entries[2]), *entries[3:]], other)


def check_realfeeds(folder: Path) -> tuple[int, int]:
    """Every file's sequence parsed with and without the memory; (parses, differences)."""
    parses = differences = recalled = missed = 0
    start = datetime(2025, 1, 6, 12, 0)
    for path in sorted(folder.iterdir()):
        if path.suffix in (".md",) or not path.is_file():
            continue
        original = path.read_bytes()
        sequence = [original, original, *edits(original), original]
        for content_type in (None, "text/html"):
            recalled, missed = recalled + MEMORY.recalled, missed + MEMORY.missed
            MEMORY.clear()
            for step, body in enumerate(sequence):
                when = start + timedelta(minutes=10 * step)
                plain = outcome(body, content_type, when, None)
                remembered = outcome(body, content_type, when, f"file:{path.name}")
                parses += 1
                if plain != remembered:
                    differences += 1
                    print(f"DIFFERS: {path.name} step {step} content type {content_type}")
    recalled, missed = recalled + MEMORY.recalled, missed + MEMORY.missed
    print(f"{folder}: {recalled} entries recalled from the memory, {missed} looked for and not found")
    return parses, differences


def captures(warc: Path) -> list[Capture]:
    return [r for r in read_warc(warc) if isinstance(r, Capture) and not isinstance(r, Skipped)]


def timed(run: Callable[[], list[Outcome]]) -> tuple[list[Outcome], float]:
    started = time.process_time()
    results = run()
    return results, time.process_time() - started


def check_warc(warc: Path) -> int:
    """The archive's captures parsed in order without and with the memory; differences."""
    records = captures(warc)
    MEMORY.clear()
    plain, before = timed(lambda: [outcome(c.body, c.content_type, c.captured_at, None) for c in records if c.body])
    remembered, after = timed(lambda: [outcome(c.body, c.content_type, c.captured_at, c.feed_url) for c in records if c.body])
    entries = sum(len(p.entries) for p in plain if isinstance(p, ParsedFeed))
    differences = sum(1 for a, b in zip(plain, remembered) if a != b)
    kinds = Counter(type(p).__name__ for p in plain)
    print(f"{warc}: {len(plain)} captures ({dict(kinds)}), {entries} entries")
    print(f"  parse CPU without the memory {before:.2f} s, with it {after:.2f} s ({MEMORY.size / 2**20:.1f} MiB remembered)")
    print(f"  entries recalled from the memory {MEMORY.recalled}, looked for and not found {MEMORY.missed}")
    print(f"  differences: {differences}")
    return differences


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feeds", type=Path, default=SHARED / "realfeeds")
    parser.add_argument("--warc", type=Path, action="append")
    args = parser.parse_args()
    parses, differences = check_realfeeds(args.feeds)
    print(f"{args.feeds}: {parses} parses compared, {differences} differences")
    for warc in args.warc or [SHARED / "worlds" / "dev" / "world.warc.gz"]:
        differences += check_warc(warc)
    return 1 if differences else 0


if __name__ == "__main__":
    raise SystemExit(main())
